//! The command line: every command and its arguments, and the examples each `--help`
//! ends with.

use crate::sign::Scheme;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Receive, verify, deliver and schedule webhooks.
#[derive(Debug, Parser)]
#[command(name = "hookline", version, about = "Receive, verify, deliver and schedule webhooks")]
pub struct Cli {
    /// The profile to use (see `hookline login`); HOOKLINE_URL and HOOKLINE_API_KEY override it.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every function in one process on the embedded store.
    Dev {
        /// Address to listen on.
        #[arg(long, env = "HOOKLINE_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Data directory.
        #[arg(long, env = "HOOKLINE_DATA", default_value = ".hookline")]
        data: PathBuf,
    },
    /// Keep a profile: a Hookline's URL and an org API key for it.
    Login {
        /// The Hookline's base URL.
        #[arg(long)]
        url: String,
        /// An org API key.
        #[arg(long)]
        api_key: String,
    },
    /// Show the org and URL the profile uses.
    Whoami {
        #[command(flatten)]
        out: OutArgs,
    },
    /// Sources: where providers send webhooks.
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// Webhooks: endpoints events are delivered to.
    #[command(subcommand)]
    Webhooks(WebhooksCmd),
    /// Events: published and received.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Scheduled jobs.
    #[command(subcommand)]
    Schedules(SchedulesCmd),
    /// Recurring jobs, one per thing (a user, a team) under a name.
    #[command(subcommand)]
    Recurring(RecurringCmd),
    /// Send a provider's event, signed as that provider signs it.
    Trigger(TriggerArgs),
    /// Forward deliveries to a local server, even from a Hookline that cannot reach it.
    Listen(ListenArgs),
    /// Follow new events and delivery attempts as they happen.
    Tail(TailArgs),
    /// Print the headers a provider would send with BODY (for curl -H).
    Sign {
        /// The signature scheme.
        #[arg(value_enum)]
        scheme: Scheme,
        /// The source's secret.
        #[arg(long)]
        secret: String,
        /// The request body.
        #[arg(long)]
        body: String,
        /// The URL the request will be sent to (Twilio signs it, with its query).
        #[arg(long)]
        url: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutArgs {
    /// Print JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A listing's paging.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Follow the cursor to the end of the listing.
    #[arg(long)]
    pub all: bool,
    /// Items per page (1-100).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Continue a listing from this cursor.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub out: OutArgs,
}

/// A request body: a JSON object and fields set on it.
#[derive(Debug, Clone, Default, Args)]
pub struct BodyArgs {
    /// The body as a JSON object, or @FILE to read it from a file.
    #[arg(long)]
    pub body: Option<String>,
    /// Set a field: `-d url=https://…`, `-d events='["order.*"]'` (JSON values are
    /// parsed, anything else is a string; dots nest: `-d data.plan=pro`).
    #[arg(short = 'd', long = "data", value_name = "PATH=VALUE")]
    pub fields: Vec<String>,
}

/// `sources …`.
#[derive(Debug, Subcommand)]
pub enum SourcesCmd {
    /// List sources.
    List(ListArgs),
    /// Show a source.
    Get(IdArgs),
    /// Create a source.
    Create(BodyOnly),
    /// Change a source.
    Update(IdBody),
    /// Delete a source.
    Delete(IdArgs),
    /// Why a source's requests were refused, newest first.
    Rejections(IdArgs),
    /// Fetch the events a source missed from its provider's API.
    Backfill(IdBody),
}

/// `webhooks …`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// List webhooks.
    List(ListArgs),
    /// Show a webhook.
    Get(IdArgs),
    /// Create a webhook (its secret is shown once).
    Create(BodyOnly),
    /// Change a webhook.
    Update(IdBody),
    /// Delete a webhook.
    Delete(IdArgs),
    /// Send a test event now.
    Test(IdArgs),
    /// Send again the deliveries that failed since a time.
    Replay(IdBody),
    /// Enable a disabled webhook.
    Enable(IdArgs),
    /// Pause deliveries (held, not failed) until resumed.
    Pause(IdArgs),
    /// Resume a paused webhook, sending what was held.
    Resume(IdArgs),
    /// Rotate the signing secret (the new one is shown once; the old one signs for 24 h).
    RotateSecret(IdArgs),
    /// A webhook's delivery attempts, newest first.
    Logs(LogsArgs),
}

/// `events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// List events, newest first.
    List(EventsList),
    /// Show an event with its delivery attempts.
    Get(IdArgs),
    /// Publish an event.
    Publish(PublishArgs),
}

/// `schedules …`.
#[derive(Debug, Subcommand)]
pub enum SchedulesCmd {
    /// List scheduled jobs.
    List(ListArgs),
    /// Show a job.
    Get(IdArgs),
    /// Schedule a job.
    Create(BodyOnly),
    /// Change a job.
    Update(IdBody),
    /// Delete a job.
    Delete(IdArgs),
    /// A job's next runs, in UTC and in this machine's time zone.
    Upcoming(IdArgs),
    /// Cancel a job by id, or every job with a key.
    Cancel(CancelArgs),
    /// Pause a job.
    Pause(IdArgs),
    /// Resume a paused job.
    Resume(IdArgs),
}

/// `recurring …`.
#[derive(Debug, Subcommand)]
pub enum RecurringCmd {
    /// List the recurring jobs under a name.
    List(RecurringList),
    /// Show one thing's job.
    Get(Thing),
    /// Create one thing's job (PUT: the same as update).
    Create(ThingBody),
    /// Change one thing's job (PUT: the whole job).
    Update(ThingBody),
    /// Delete one thing's job.
    Delete(Thing),
}

/// An id.
#[derive(Debug, Clone, Args)]
pub struct IdArgs {
    /// The id.
    pub id: String,
    #[command(flatten)]
    pub out: OutArgs,
}

/// A body alone.
#[derive(Debug, Clone, Args)]
pub struct BodyOnly {
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

/// An id and a body.
#[derive(Debug, Clone, Args)]
pub struct IdBody {
    /// The id.
    pub id: String,
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

/// `webhooks logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The webhook's id.
    pub id: String,
    /// Only attempts with this status (delivered, failed, retrying, exhausted, held, pending).
    #[arg(long)]
    pub status: Option<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// `events list`.
#[derive(Debug, Clone, Args)]
pub struct EventsList {
    /// Only events of this exact type.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    #[command(flatten)]
    pub list: ListArgs,
}

/// `events publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The event type.
    pub event_type: String,
    /// Events with the same key reach each endpoint one at a time, in order.
    #[arg(long)]
    pub ordering_key: Option<String>,
    /// The event's data: --body is its JSON, -d sets its fields.
    #[command(flatten)]
    pub data: BodyArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

/// `schedules cancel`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// The job's id.
    #[arg(required_unless_present = "key", conflicts_with = "key")]
    pub id: Option<String>,
    /// Cancel every job scheduled with this key instead.
    #[arg(long)]
    pub key: Option<String>,
    #[command(flatten)]
    pub out: OutArgs,
}

/// `recurring list`.
#[derive(Debug, Clone, Args)]
pub struct RecurringList {
    /// The recurring job's name (`weekly-digest`).
    pub name: String,
    #[command(flatten)]
    pub out: OutArgs,
}

/// One thing's recurring job.
#[derive(Debug, Clone, Args)]
pub struct Thing {
    /// The recurring job's name.
    pub name: String,
    /// The thing (a user id, a team id).
    pub thing: String,
    #[command(flatten)]
    pub out: OutArgs,
}

/// One thing's recurring job and its body.
#[derive(Debug, Clone, Args)]
pub struct ThingBody {
    /// The recurring job's name.
    pub name: String,
    /// The thing (a user id, a team id).
    pub thing: String,
    #[command(flatten)]
    pub body: BodyArgs,
    #[command(flatten)]
    pub out: OutArgs,
}

/// `trigger`.
#[derive(Debug, Clone, Args)]
pub struct TriggerArgs {
    /// The provider (stripe, github, shopify, resend).
    #[arg(required_unless_present = "list")]
    pub provider: Option<String>,
    /// The event (`invoice.payment_failed`, `push`, `orders/create`, …).
    #[arg(required_unless_present = "list")]
    pub event: Option<String>,
    /// List what can be sent.
    #[arg(long)]
    pub list: bool,
    /// Send through this source, signed by Hookline with its stored secret.
    #[arg(long, conflicts_with_all = ["url", "list"])]
    pub source: Option<String>,
    /// Send to this ingest URL, signed here with --secret, as the provider would.
    #[arg(long, requires = "secret", conflicts_with = "list")]
    pub url: Option<String>,
    /// The source's signing secret (with --url).
    #[arg(long, requires = "url")]
    pub secret: Option<String>,
    /// Sign with this scheme instead of the provider's own (with --url; `standard` for a
    /// Standard Webhooks source receiving Resend's events).
    #[arg(long, value_enum, requires = "url")]
    pub scheme: Option<Scheme>,
    /// Change a field of the event: `--set data.object.customer=cus_42` (JSON values are
    /// parsed, anything else is a string).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub out: OutArgs,
}

/// `listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Where to forward each delivery (`http://localhost:3000/webhooks`).
    #[arg(long)]
    pub forward_to: String,
    /// Only these event types, comma-separated (`order.*,stripe.*`); all by default.
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// Print one JSON object a delivery instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

/// `tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Only events (and their attempts) of these types: exact or `prefix.*`, comma-separated.
    #[arg(long = "type", value_delimiter = ',')]
    pub types: Vec<String>,
    /// Only attempts with this status (and no events): delivered, failed, retrying, exhausted, held, pending.
    #[arg(long)]
    pub status: Option<String>,
    /// Start this far in the past (`30s`, `10m`, `2h`, `1d`) instead of now.
    #[arg(long)]
    pub since: Option<String>,
    /// One JSON object a line.
    #[arg(long)]
    pub json: bool,
}
