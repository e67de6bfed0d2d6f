//! A handler that panics answers a 500 problem instead of dropping the connection; the
//! panic itself is reported by the panic hook (with its location), the response says
//! nothing more than that the server failed.

use crate::problem::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

pub async fn catch_panic(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    match (CatchUnwind(Box::pin(next.run(request)))).await {
        Some(response) => response,
        None => {
            tracing::error!(path, "a request handler panicked");
            ApiError::internal("the handler failed").into_response()
        }
    }
}

/// Polls the inner future, turning a panic during a poll into `None`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // The future is dropped after a panic and never polled again, so no broken
        // state it holds can be observed.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Err(_) => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_others_are_untouched() {
        async fn boom() -> &'static str {
            panic!("handler bug")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .route("/fine", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(catch_panic));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                let request = Request::builder().uri(path).body(Body::empty()).unwrap();
                app.oneshot(request).await.unwrap().status()
            }
        };
        assert_eq!(call("/boom").await, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(call("/fine").await, StatusCode::OK);
    }
}
