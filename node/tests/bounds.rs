//! The front door's bounds, judged from outside: a client that sends its headers too slowly is
//! disconnected, connections over the cap are answered 503 and closed until slots free up,
//! and a JSON body of too many values is refused before it is parsed.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `bound` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let deadline = Instant::now() + bound;
    loop {
        let mut buffer = [0u8; 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn test_bounds_slow_headers_are_cut_off() {
    let server = Server::start_with_env(&[("SHOAL_HTTP_HEADER_TIMEOUT_MS", "500")]).await;
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    stream.write_all(b"POST / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let started = Instant::now();
    // The rest of the headers never come; the server must not wait for them for ever.
    let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "the connection was still open after 10 s");
    assert!(started.elapsed() >= Duration::from_millis(400), "closed before the timeout: {:?}", started.elapsed());

    // A client that sends its request at once is served on the same server.
    let client = server.client().await;
    client.list_queues().send().await.expect("ListQueues after a slow client");
}

#[tokio::test]
async fn test_bounds_connections_over_the_cap_get_503_and_the_others_go_on() {
    let server = Server::start_with_env(&[("SHOAL_HTTP_CONNECTIONS_MAX", "4")]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.address()).await.unwrap());
    }
    // Every connection past the cap is answered 503 and closed; one the server took instead (a
    // slot still held by the harness's start-up probe) is simply held too.
    let mut refused = None;
    for _ in 0..50 {
        let mut extra = TcpStream::connect(server.address()).await.unwrap();
        match read_until_closed(&mut extra, Duration::from_secs(2)).await {
            Some(reply) if !reply.is_empty() => {
                refused = Some(reply);
                break;
            }
            Some(_) => {}
            None => held.push(extra),
        }
    }
    let refused = String::from_utf8(refused.expect("a connection over the cap was refused")).unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");

    // The held connections go away: their slots serve a real client again.
    held.clear();
    let client = server.client().await;
    common::wait_for("a free connection slot", Duration::from_secs(10), Duration::from_millis(50), || async {
        client.list_queues().send().await.ok()
    })
    .await;
}

#[tokio::test]
async fn test_bounds_json_body_of_too_many_values_is_refused() {
    let server = Server::start().await;
    let values = vec!["0"; 20_000].join(",");
    let body = format!(r#"{{"QueueNamePrefix": "x", "Extra": [{values}]}}"#);
    let mut stream = TcpStream::connect(server.address()).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: AmazonSQS.ListQueues\r\n\
         Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let reply = read_until_closed(&mut stream, Duration::from_secs(10)).await.expect("a reply");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("SerializationException"), "{reply}");
}
