//! The examples each command's `--help` ends with, set on the command tree clap derives
//! from `commands.rs`.

use crate::commands::Cli;
use clap::CommandFactory as _;

/// The examples at the end of each command's `--help`, by command path.
const EXAMPLES: &[(&str, &str)] = &[
    ("dev", "hookline dev\n  hookline dev --addr 127.0.0.1:9000 --data /tmp/hookline"),
    ("login", "hookline login --url http://127.0.0.1:8080 --api-key hk_live_…\n  hookline login --profile prod --url https://abc.execute-api.eu-west-1.amazonaws.com --api-key hk_live_…"),
    ("whoami", "hookline whoami\n  hookline --profile prod whoami --json"),
    ("sources", "hookline sources list\n  hookline sources create -d name=stripe -d provider=stripe -d 'secrets=[\"whsec_…\"]'"),
    ("sources list", "hookline sources list\n  hookline sources list --json | jq -r '.[].ingest_url'"),
    ("sources get", "hookline sources get src_01J…"),
    ("sources create", "hookline sources create -d name=stripe -d provider=stripe -d 'secrets=[\"whsec_…\"]'\n  hookline sources create --body @source.json"),
    ("sources update", "hookline sources update src_01J… -d 'secrets=[\"whsec_new\",\"whsec_old\"]'"),
    ("sources delete", "hookline sources delete src_01J…"),
    ("sources rejections", "hookline sources rejections src_01J…"),
    ("sources backfill", "hookline sources backfill src_01J… -d since=2026-12-01T00:00:00Z"),
    ("webhooks", "hookline webhooks list\n  hookline webhooks create -d url=https://example.com/hooks -d 'events=[\"order.*\"]'"),
    ("webhooks list", "hookline webhooks list\n  hookline webhooks list --json"),
    ("webhooks get", "hookline webhooks get ep_01J…"),
    ("webhooks create", "hookline webhooks create -d url=https://example.com/hooks -d 'events=[\"order.*\"]'\n  hookline webhooks create --body '{\"url\":\"https://example.com/hooks\",\"events\":[\"*\"],\"urgency\":\"urgent\"}'"),
    ("webhooks update", "hookline webhooks update ep_01J… -d 'events=[\"order.*\",\"invoice.*\"]'"),
    ("webhooks delete", "hookline webhooks delete ep_01J…"),
    ("webhooks test", "hookline webhooks test ep_01J…"),
    ("webhooks replay", "hookline webhooks replay ep_01J… -d since=2026-12-01T00:00:00Z\n  hookline webhooks replay ep_01J… -d since=2026-12-01T00:00:00Z -d 'types=[\"order.paid\"]'"),
    ("webhooks enable", "hookline webhooks enable ep_01J…"),
    ("webhooks pause", "hookline webhooks pause ep_01J…"),
    ("webhooks resume", "hookline webhooks resume ep_01J…"),
    ("webhooks rotate-secret", "hookline webhooks rotate-secret ep_01J…"),
    ("webhooks logs", "hookline webhooks logs ep_01J…\n  hookline webhooks logs ep_01J… --status failed --all"),
    ("events", "hookline events list --type order.paid\n  hookline events publish order.paid -d order_id=1042"),
    ("events list", "hookline events list\n  hookline events list --type stripe.invoice.payment_failed --all --json"),
    ("events get", "hookline events get evt_01J…"),
    ("events publish", "hookline events publish order.paid -d order_id=1042 -d total=54.00\n  hookline events publish user.created --body '{\"id\":\"u_1\"}' --ordering-key u_1"),
    ("schedules", "hookline schedules list\n  hookline schedules create -d type=report.due -d at=2026-12-24T09:00:00Z"),
    ("schedules list", "hookline schedules list --all"),
    ("schedules get", "hookline schedules get sch_01J…"),
    ("schedules create", "hookline schedules create -d type=report.due -d at=2026-12-24T09:00:00Z\n  hookline schedules create -d type=digest.send -d 'cron=0 9 ? * MON *' -d timezone=Europe/Paris -d key=digest"),
    ("schedules update", "hookline schedules update sch_01J… -d 'cron=0 10 ? * MON *'"),
    ("schedules delete", "hookline schedules delete sch_01J…"),
    ("schedules upcoming", "hookline schedules upcoming sch_01J…"),
    ("schedules cancel", "hookline schedules cancel sch_01J…\n  hookline schedules cancel --key digest"),
    ("schedules pause", "hookline schedules pause sch_01J…"),
    ("schedules resume", "hookline schedules resume sch_01J…"),
    ("recurring", "hookline recurring list weekly-digest\n  hookline recurring create weekly-digest user_42 -d 'cron=0 9 ? * MON *' -d timezone=America/New_York"),
    ("recurring list", "hookline recurring list weekly-digest"),
    ("recurring get", "hookline recurring get weekly-digest user_42"),
    ("recurring create", "hookline recurring create weekly-digest user_42 -d 'cron=0 9 ? * MON *' -d timezone=America/New_York"),
    ("recurring update", "hookline recurring update weekly-digest user_42 -d 'cron=0 8 ? * MON *' -d timezone=America/New_York"),
    ("recurring delete", "hookline recurring delete weekly-digest user_42"),
    ("trigger", "hookline trigger --list\n  hookline trigger stripe invoice.payment_failed --source src_01J…\n  hookline trigger stripe charge.failed --source src_01J… --set data.object.customer=cus_42\n  hookline trigger github push --url http://127.0.0.1:8080/in/src_01J… --secret s3cret"),
    ("listen", "hookline listen --forward-to http://localhost:3000/webhooks\n  hookline listen --forward-to http://localhost:3000/webhooks --events 'order.*,stripe.*'"),
    ("tail", "hookline tail\n  hookline tail --type 'stripe.*' --since 10m\n  hookline tail --status failed --json"),
    ("sign", "hookline sign stripe --secret whsec_… --body '{\"id\":\"evt_1\"}'"),
    ("completions", "hookline completions bash > ~/.local/share/bash-completion/completions/hookline\n  hookline completions zsh > \"${fpath[1]}/_hookline\"\n  hookline completions fish > ~/.config/fish/completions/hookline.fish"),
];

/// The command tree with every command's examples.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for (path, text) in EXAMPLES {
        cmd = with_examples(cmd, &path.split(' ').collect::<Vec<_>>(), text);
    }
    cmd.after_help(
        "Examples:\n  hookline dev\n  hookline login --url http://127.0.0.1:8080 --api-key hk_live_…\n  hookline listen --forward-to http://localhost:3000/webhooks",
    )
}

fn with_examples(cmd: clap::Command, path: &[&str], text: &'static str) -> clap::Command {
    match path {
        [] => cmd.after_help(format!("Examples:\n  {text}")),
        [first, rest @ ..] => {
            let rest: Vec<&str> = rest.to_vec();
            let first = (*first).to_owned();
            cmd.mut_subcommand(first, move |sub| with_examples(sub, &rest, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_after_help().is_none() {
                missing.push(path.to_owned());
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "hookline", &mut missing);
        assert!(missing.is_empty(), "commands without examples: {missing:?}");
        command().debug_assert();
    }
}
