//! An HTTP server on 127.0.0.1 for unit tests of code that talks to the
//! API server through a `kube::Client`: it answers every request with one
//! JSON body (or one chosen by the path), after an optional delay, and
//! records what it was asked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};

/// What the server saw of each request: its path and headers.
pub type Seen = Arc<Mutex<Vec<(String, http::HeaderMap)>>>;

/// Starts the server; returns its URL and what it sees.
pub async fn serve(body: String, delay: Duration) -> (String, Seen) {
    serve_by_path(move |_| (200, body.clone()), delay).await
}

/// Like [`serve`], answering each request with the status and JSON body
/// `answer` gives for its path.
pub async fn serve_by_path(
    answer: impl Fn(&str) -> (u16, String) + Clone + Send + Sync + 'static,
    delay: Duration,
) -> (String, Seen) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (answer, record) = (answer.clone(), record.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let path = req.uri().path().to_string();
                    let (status, body) = answer(&path);
                    record.lock().unwrap().push((path, req.headers().clone()));
                    let res = Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(http_body_util::Full::<hyper::body::Bytes>::from(body));
                    async move {
                        tokio::time::sleep(delay).await;
                        res
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}
