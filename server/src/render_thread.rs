//! Server-side rendering on one thread of its own.
//!
//! Leptos's reactive graph can deadlock when a page's resources, effects and Suspense
//! boundaries run on several threads at once: a resource finishing on one thread and a
//! Suspense effect re-running on another take the same two locks in opposite orders
//! (leptos-rs/leptos#4673). The page then never finishes and the worker threads stay blocked.
//! Here every task leptos spawns, and every page render, runs on one dedicated thread, so
//! those locks are never contended; server functions, sockets and the appliance gateway keep
//! the whole runtime.

use std::sync::OnceLock;

use any_spawner::{CustomExecutor, Executor, PinnedFuture, PinnedLocalFuture};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::runtime::Handle;

/// Deep enough for rendering in an unoptimised build.
const STACK_BYTES: usize = 16 * 1024 * 1024;
/// Rendered chunks buffered between the rendering thread and the connection.
const CHUNKS_IN_FLIGHT: usize = 16;

fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(start)
}

// Without its rendering thread the server can render no page at all: failing to start one
// (the OS refusing a thread) is fatal, like running out of memory.
#[allow(clippy::expect_used)]
fn start() -> Handle {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("render".into())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the rendering thread's runtime");
            let _ = sender.send(runtime.handle().clone());
            runtime.block_on(std::future::pending::<()>());
        })
        .expect("start the rendering thread");
    receiver.recv().expect("the rendering thread starts")
}

struct OnRenderThread;

impl CustomExecutor for OnRenderThread {
    fn spawn(&self, future: PinnedFuture<()>) {
        handle().spawn(future);
    }

    fn spawn_local(&self, future: PinnedLocalFuture<()>) {
        tokio::task::spawn_local(future);
    }

    fn poll_local(&self) {}
}

/// Makes leptos spawn its tasks on the rendering thread. Call before leptos sets up its own
/// executor (building the router does); later calls change nothing.
pub fn install() {
    let _ = Executor::init_custom_executor(OnRenderThread);
}

/// Paths under the page routes that render nothing: server functions and the built assets.
const NOT_RENDERED: [&str; 2] = ["/api/", "/pkg/"];

/// Middleware for the page routes: renders the page, and streams its body, on the rendering
/// thread. Server-function calls and asset files pass straight through.
pub async fn render_pages(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if NOT_RENDERED.iter().any(|prefix| path.starts_with(prefix)) {
        return next.run(request).await;
    }
    let rendered = handle().spawn(async move {
        let (parts, body) = next.run(request).await.into_parts();
        let (chunks, received) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                if chunks.send(chunk).await.is_err() {
                    break;
                }
            }
        });
        (parts, received)
    });
    match rendered.await {
        Ok((parts, received)) => {
            let stream = futures_util::stream::unfold(received, |mut received| async move {
                received.recv().await.map(|chunk| (chunk, received))
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}
