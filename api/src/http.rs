//! The HTTP front door: tells the SQS JSON 1.0 protocol from the Query protocol (and, in the
//! Query protocol, SQS from SNS), reads the body with a bound, runs the action, and renders the
//! reply or error in the caller's protocol and service.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

use std::sync::Arc;

use crate::error::ApiError;
use crate::limits;
use crate::query::model::{ModelAction, ServiceModel};
use crate::query::{form, xml};
use crate::service::ApiCluster as Cluster;
use crate::sns::query_model::MODEL as SNS_MODEL;
use crate::sns::{self, SnsAction};
use crate::sqs::query_model::MODEL as SQS_MODEL;
use crate::sqs::{self, RequestContext, SqsAction};

const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AmazonSQS.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    Query,
}

pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new()
        .route("/_shoal/status", axum::routing::get(status))
        .route("/_shoal/raft-stats", axum::routing::get(raft_stats))
        .fallback(handle)
        .with_state(cluster)
}

/// `GET /_shoal/raft-stats`: openraft's statistics of every group on this node (batch sizes,
/// the time entries spend between the stages of a commit), as text, for finding where a
/// commit's time goes.
async fn raft_stats(State(cluster): State<Arc<Cluster>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], cluster.raft_stats().await).into_response()
}

/// `GET /_shoal/status`: this node's view of every Raft group, for operators and tests.
async fn status(State(cluster): State<Arc<Cluster>>) -> Response {
    let body = cluster.status().to_string();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn handle(State(cluster): State<Arc<Cluster>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let protocol = if headers.contains_key("x-amz-target") { Protocol::Json } else { Protocol::Query };
    let (service, result) = serve(&cluster, &uri, &headers, body, protocol).await;
    match result {
        Ok((action, reply)) => success(protocol, action, &reply, &request_id),
        Err(error) => failure(protocol, service, &error, &request_id),
    }
}

/// The service a request is for, as far as it is known (SQS until the request says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Sqs,
    Sns,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Sqs(SqsAction),
    Sns(SnsAction),
}

type Served = Result<(Action, Value), ApiError>;

async fn serve(cluster: &Cluster, uri: &Uri, headers: &HeaderMap, body: Body, protocol: Protocol) -> (Service, Served) {
    let read_timeout = Duration::from_millis(limits::HTTP_BODY_READ_TIMEOUT_MS);
    let body = match tokio::time::timeout(read_timeout, to_bytes(body, limits::HTTP_BODY_BYTES_MAX)).await {
        Err(_) => return (Service::Sqs, Err(ApiError::request_timeout(limits::HTTP_BODY_READ_TIMEOUT_MS))),
        Ok(Err(_)) => return (Service::Sqs, Err(ApiError::too_large(limits::HTTP_BODY_BYTES_MAX))),
        Ok(Ok(body)) => body,
    };
    // (A SigV4 check goes here: after the body is read, before anything is parsed.)
    if protocol == Protocol::Json {
        return (Service::Sqs, serve_sqs(cluster, uri, headers, parse_json(headers, uri, &body)).await);
    }
    // Bounded while parsing: one more than the model accepts is enough to refuse the request.
    let pairs = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).chain(form_urlencoded::parse(&body));
    let params: Vec<(String, String)> =
        pairs.take(form::MAX_QUERY_PARAMS + 1).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    match service_of(headers, uri, &params).as_str() {
        "sqs" => (
            Service::Sqs,
            serve_sqs(cluster, uri, headers, parse_query(&params, &SQS_MODEL, SqsAction::from_name)).await,
        ),
        "sns" => (Service::Sns, serve_sns(cluster, uri, headers, &params).await),
        other => (Service::Sqs, Err(ApiError::unsupported_service(other))),
    }
}

async fn serve_sqs(
    cluster: &Cluster,
    uri: &Uri,
    headers: &HeaderMap,
    parsed: Result<(SqsAction, Map<String, Value>), ApiError>,
) -> Served {
    let (action, mut members) = parsed?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let context = RequestContext { base_url: format!("http://{host}") };
    let path = uri.path().trim_matches('/');
    if !path.is_empty() && !members.contains_key("QueueUrl") {
        members.insert("QueueUrl".into(), json!(format!("{}/{path}", context.base_url)));
    }
    let reply = sqs::dispatch(cluster, &context, action, &members).await?;
    Ok((Action::Sqs(action), reply))
}

async fn serve_sns(cluster: &Cluster, uri: &Uri, headers: &HeaderMap, params: &[(String, String)]) -> Served {
    let (action, members) = parse_query(params, &SNS_MODEL, SnsAction::from_name)?;
    // HTTP/2 names the host in the URI's authority rather than a Host header.
    let authority = uri.authority().map(|authority| authority.as_str());
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(authority).unwrap_or("localhost");
    let reply = sns::dispatch(cluster, &format!("http://{host}/"), action, &members).await?;
    Ok((Action::Sns(action), reply))
}

/// The request object a Query form became, or the error for a form that did not fit.
fn query_members(converted: Result<Value, form::QueryError>) -> Result<Map<String, Value>, ApiError> {
    match converted {
        Ok(Value::Object(members)) => Ok(members),
        Ok(_) => Ok(Map::new()),
        Err(form::QueryError::UnknownAction(action)) => Err(ApiError::invalid_action(&action)),
        Err(form::QueryError::MissingParameter { name }) => Err(ApiError::missing_parameter(&name)),
        Err(error) => Err(ApiError::malformed(error.to_string())),
    }
}

/// The service named in the SigV4 credential scope (`AKID/DATE/REGION/SERVICE/aws4_request`),
/// from the Authorization header or a presigned URL.
fn signing_service(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split_once("Credential=").map(|(_, rest)| rest.to_string()));
    let from_query = || {
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v.into_owned())
    };
    let credential = from_header.or_else(from_query)?;
    let scope: Vec<&str> = credential.split([',', ' ']).next()?.split('/').collect();
    (scope.len() == 5).then(|| scope[3].to_ascii_lowercase())
}

fn parse_json(headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<(SqsAction, Map<String, Value>), ApiError> {
    let service = service_of(headers, uri, &[]);
    if service != "sqs" {
        return Err(ApiError::unsupported_service(&service));
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(name) = target.strip_prefix(TARGET_PREFIX) else {
        return Err(ApiError::invalid_action(target));
    };
    let action = SqsAction::from_name(name).ok_or_else(|| ApiError::invalid_action(name))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((action, Map::new()));
    }
    // Bounded before parsing, so a body of tiny values cannot make millions of allocations.
    let values = json_value_count(body);
    if values > limits::JSON_VALUES_MAX {
        return Err(ApiError::serialization(format!(
            "The request has {values} JSON values; at most {} are accepted.",
            limits::JSON_VALUES_MAX
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => Ok((action, members)),
        Ok(_) => Err(ApiError::serialization("The request body must be a JSON object.")),
        Err(error) => Err(ApiError::serialization(format!("The request body is not valid JSON: {error}."))),
    }
}

/// About how many values a JSON text holds: one more than its separators and openings, counted
/// outside strings. Never less than the real count.
fn json_value_count(body: &[u8]) -> usize {
    let mut count = 1;
    let mut in_string = false;
    let mut escaped = false;
    for byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b':' | b'[' | b'{' => count += 1,
            _ => {}
        }
    }
    count
}

/// The SNS Query API's version: a request carrying it (and no SigV4 scope) is for SNS.
const SNS_VERSION: &str = "2010-03-31";

/// Which service a request is for: the SigV4 credential scope's service when signed, else (Query)
/// the `Version` parameter, else SQS. Action names alone cannot tell: AddPermission and
/// RemovePermission exist in both SQS and SNS.
fn service_of(headers: &HeaderMap, uri: &Uri, params: &[(String, String)]) -> String {
    if let Some(service) = signing_service(headers, uri) {
        return service;
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match (param("Version"), param("Action")) {
        (Some(SNS_VERSION), _) => "sns".to_string(),
        // The links SNS sends (UnsubscribeURL, SubscribeURL), opened as they are: SQS has no
        // action of these names.
        (None, Some("Unsubscribe" | "ConfirmSubscription")) => "sns".to_string(),
        _ => "sqs".to_string(),
    }
}

/// A Query form's action (by `from_name`) and its request object (through `model`).
fn parse_query<A: ModelAction>(
    params: &[(String, String)],
    model: &ServiceModel<A>,
    from_name: fn(&str) -> Option<A>,
) -> Result<(A, Map<String, Value>), ApiError> {
    let Some(name) = params.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str()) else {
        return Err(ApiError::missing_action());
    };
    let action = from_name(name).ok_or_else(|| ApiError::invalid_action(name))?;
    let members = query_members(form::form_to_json(model, action, params))?;
    Ok((action, members))
}

fn success(protocol: Protocol, action: Action, reply: &Value, request_id: &str) -> Response {
    let (content_type, body) = match (protocol, action) {
        (Protocol::Json, _) => (JSON_CONTENT_TYPE, reply.to_string()),
        (Protocol::Query, Action::Sqs(action)) => {
            ("text/xml", xml::json_to_xml_response(&SQS_MODEL, action, reply, request_id))
        }
        (Protocol::Query, Action::Sns(action)) => {
            ("text/xml", xml::json_to_xml_response(&SNS_MODEL, action, reply, request_id))
        }
    };
    respond(StatusCode::OK, content_type, body, request_id, None)
}

fn failure(protocol: Protocol, service: Service, error: &ApiError, request_id: &str) -> Response {
    if error.status >= 500 {
        tracing::warn!(code = %error.code, message = %error.message, "request failed");
    }
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let namespace = match service {
        Service::Sqs => SQS_MODEL.namespace,
        Service::Sns => SNS_MODEL.namespace,
    };
    let (content_type, body) = match protocol {
        Protocol::Json => {
            (JSON_CONTENT_TYPE, json!({ "__type": error.json_type(), "message": error.message }).to_string())
        }
        Protocol::Query => (
            "text/xml",
            xml::xml_error(namespace, &error.query_code, error.query_message(), error.sender_fault, request_id),
        ),
    };
    let mut response = respond(status, content_type, body, request_id, Some(error.query_error_header()));
    if error.is_throttling() {
        response.headers_mut().insert("x-amz-retry-after", HeaderValue::from(limits::THROTTLE_RETRY_AFTER_MS));
    }
    response
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: String,
    request_id: &str,
    query_error: Option<String>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    if let Some(value) = query_error.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert("x-amzn-query-error", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::json_value_count;

    #[test]
    fn test_json_value_count_counts_values_outside_strings() {
        assert_eq!(json_value_count(b"{}"), 2);
        assert_eq!(json_value_count(br#"{"a": 1, "b": [1, 2]}"#), 7);
        assert_eq!(json_value_count(br#"{"a": "x,y:[{\"z,"}"#), 3);
        assert!(json_value_count(&b"[0,".repeat(20_000)) > super::limits::JSON_VALUES_MAX);
    }
}
