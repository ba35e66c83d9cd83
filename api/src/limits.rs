//! Bounds of the front door: connections, request sizes and times. SQS quotas themselves live in
//! `shoal_engine::limits`, the cluster's in `shoal_cluster::limits`.

/// Largest HTTP request body read; a 1 MiB message with JSON escaping fits.
pub const HTTP_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Default of `--http-connections-max`: open client connections at once; one more is answered
/// 503 and closed.
pub const HTTP_CONNECTIONS_MAX: usize = 4096;
/// Default of `--http-header-timeout-ms`: a request's headers must arrive within this time, and
/// a kept-alive connection idle this long is closed. Longer than SDKs keep idle connections
/// pooled in practice, so a pooled connection is rarely closed under a client.
pub const HTTP_HEADER_TIMEOUT_MS: u64 = 60_000;
/// After a failed accept (e.g. out of file descriptors), wait this long before the next.
pub const HTTP_ACCEPT_RETRY_MS: u64 = 50;
/// Most values (members, array elements, scalars) a JSON request may hold. A full
/// SendMessageBatch with ten attributes on each of its ten entries holds about 500.
pub const JSON_VALUES_MAX: usize = 10_000;
/// A request body must arrive within this time.
pub const HTTP_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// A throttled request tells the client to retry after this long (`x-amz-retry-after`, which
/// the AWS SDKs honour).
pub const THROTTLE_RETRY_AFTER_MS: u64 = 200;
/// After SIGTERM, connections get this long to finish before they are dropped (default of
/// `--shutdown-grace-ms`).
pub const SHUTDOWN_GRACE_MS: u64 = 25_000;

// A request parsed from the largest body, and its reply, fit in one call between nodes.
const _: () = assert!(HTTP_BODY_BYTES_MAX * 4 <= shoal_cluster::limits::CALL_BYTES_MAX);
