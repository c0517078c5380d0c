//! Live fan-out benchmark, load side: opens one browser-like WebSocket per session cookie to
//! the portal's `/api/live`, reads every frame until the server stops publishing, and reports
//! the event → client latency (publish time carried in each event) as p50/p99/max, one JSON line.
//! Run by `scripts/bench-fanout.sh`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bench::{now_micros, percentile};
use clap::Parser;
use futures_util::StreamExt;
use model::live::{LiveEvent, LiveFrame};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:3390/api/live")]
    url: String,
    #[arg(long)]
    cookies: PathBuf,
    /// Sockets opened at the same time while connecting.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// Stop after this long without any frame on any socket.
    #[arg(long, default_value_t = 5)]
    idle_seconds: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cookies: Vec<String> = std::fs::read_to_string(&args.cookies)
        .expect("read the cookies")
        .lines()
        .map(str::to_owned)
        .collect();
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(2_000_000)));
    let last_frame = Arc::new(std::sync::atomic::AtomicU64::new(now_micros()));
    let connect = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency));
    let mut readers = Vec::with_capacity(cookies.len());
    for cookie in cookies {
        let permit = connect.clone().acquire_owned().await.unwrap();
        let mut request = args.url.clone().into_client_request().unwrap();
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
        let (latencies, last_frame) = (latencies.clone(), last_frame.clone());
        readers.push(tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            drop(permit);
            let mut mine = Vec::new();
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let received = now_micros();
                last_frame.store(received, std::sync::atomic::Ordering::Relaxed);
                if let Ok(LiveFrame::Event { event, .. }) = serde_json::from_str::<LiveFrame>(&text)
                    && let LiveEvent::Job { job } = *event
                    && let Ok(sent) = job.progress.message.parse::<u64>()
                {
                    mine.push(received.saturating_sub(sent));
                    if mine.len() >= 256 {
                        latencies.lock().unwrap().append(&mut mine);
                    }
                }
            }
            latencies.lock().unwrap().append(&mut mine);
        }));
    }
    eprintln!("{} sockets open", readers.len());
    let mut seen_events = false;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let count = latencies.lock().unwrap().len();
        seen_events |= count > 0;
        let idle = now_micros().saturating_sub(last_frame.load(std::sync::atomic::Ordering::Relaxed));
        if seen_events && idle > args.idle_seconds * 1_000_000 {
            break;
        }
    }
    for reader in &readers {
        reader.abort();
    }
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap());
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "sockets": readers.len(),
            "events_received": samples.len(),
            "latency_p50_ms": ms(percentile(&mut samples, 50.0)),
            "latency_p99_ms": ms(percentile(&mut samples, 99.0)),
            "latency_max_ms": ms(percentile(&mut samples, 100.0)),
        })
    );
}
