//! The Lambda face of `deliver`: an SQS batch in, the failed message ids out.

use crate::Deliver;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline_shared::outbound::HttpSender;
use hookline_shared::ports::{AttemptStore, Clock, EndpointStore, EventStore, OpsSink, Queue, Timer};

/// Process an SQS batch concurrently; only infrastructure failures are reported.
pub async fn handle_sqs_event<S, Q, T, H, O, C>(
    deliver: &Deliver<S, Q, T, H, O, C>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    S: EndpointStore + AttemptStore + EventStore,
    Q: Queue,
    T: Timer,
    H: HttpSender,
    O: OpsSink,
    C: Clock,
{
    hookline_shared::batch::lambda::handle_sqs_event(
        event,
        |body| async move { deliver.handle(&body).await.map(|_| ()) },
    )
    .await
}
