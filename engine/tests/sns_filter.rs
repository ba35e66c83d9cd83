//! SNS subscription filter policies: what each condition admits, in both scopes, and every
//! refusal with its reason.

use proptest::prelude::*;
use shoal_engine::message::{AttributeValue, MessageAttributes};
use shoal_engine::sns::filter::{FilterInput, FilterPolicy, FilterScope};

fn attributes(pairs: &[(&str, &str, &str)]) -> MessageAttributes {
    pairs
        .iter()
        .map(|(name, data_type, value)| {
            let attribute = AttributeValue {
                data_type: data_type.to_string(),
                string_value: Some(value.to_string()),
                binary_value: None,
            };
            (name.to_string(), attribute)
        })
        .collect()
}

/// Does a policy of scope `MessageAttributes` take a message with these attributes?
fn check_attributes(policy: &str, message: &[(&str, &str, &str)]) -> bool {
    let policy = FilterPolicy::parse(policy, FilterScope::MessageAttributes).expect("a valid policy");
    let attributes = attributes(message);
    policy.matches(&FilterInput::new(&attributes, "body"))
}

/// Does a policy of scope `MessageBody` take a message with this body?
fn check_body(policy: &str, body: &str) -> bool {
    let policy = FilterPolicy::parse(policy, FilterScope::MessageBody).expect("a valid policy");
    policy.matches(&FilterInput::new(&MessageAttributes::new(), body))
}

/// The reason a policy is refused with.
fn refusal(policy: &str, scope: FilterScope) -> String {
    match FilterPolicy::parse(policy, scope) {
        Ok(parsed) => panic!("{policy} was accepted: {parsed:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn test_filter_exact_strings_and_numbers() {
    let policy = r#"{"store": ["example_corp", "other"], "price": [100]}"#;
    assert!(check_attributes(policy, &[("store", "String", "example_corp"), ("price", "Number", "100")]));
    assert!(check_attributes(policy, &[("store", "String", "other"), ("price", "Number", "100.0")]));
    assert!(!check_attributes(policy, &[("store", "String", "Example_Corp"), ("price", "Number", "100")]));
    assert!(!check_attributes(policy, &[("store", "String", "other"), ("price", "Number", "101")]));
    // A number condition does not match a String attribute, nor a missing one.
    assert!(!check_attributes(policy, &[("store", "String", "other"), ("price", "String", "100")]));
    assert!(!check_attributes(policy, &[("store", "String", "other")]));
    // Custom type suffixes keep the base type.
    assert!(check_attributes(policy, &[("store", "String.name", "other"), ("price", "Number.int", "100")]));
}

#[test]
fn test_filter_string_array_attributes_match_any_element() {
    let policy = r#"{"sport": ["rugby"], "score": [{"numeric": [">", 10]}]}"#;
    let both = [("sport", "String.Array", r#"["soccer", "rugby"]"#), ("score", "String.Array", "[3, 12]")];
    assert!(check_attributes(policy, &both));
    let neither = [("sport", "String.Array", r#"["soccer"]"#), ("score", "String.Array", "[3, 12]")];
    assert!(!check_attributes(policy, &neither));
    let not_an_array = [("sport", "String.Array", "rugby"), ("score", "String.Array", "[12]")];
    assert!(!check_attributes(policy, &not_an_array));
}

#[test]
fn test_filter_binary_attributes_are_ignored() {
    let policy = r#"{"data": [{"exists": true}]}"#;
    let binary = AttributeValue { data_type: "Binary".into(), string_value: None, binary_value: Some(vec![1, 2]) };
    let attributes: MessageAttributes = [("data".to_string(), binary)].into_iter().collect();
    let parsed = FilterPolicy::parse(policy, FilterScope::MessageAttributes).unwrap();
    assert!(!parsed.matches(&FilterInput::new(&attributes, "")));
}

#[test]
fn test_filter_prefix_suffix_and_equals_ignore_case() {
    assert!(check_attributes(r#"{"k": [{"prefix": "bas"}]}"#, &[("k", "String", "baseball")]));
    assert!(!check_attributes(r#"{"k": [{"prefix": "bas"}]}"#, &[("k", "String", "abase")]));
    assert!(check_attributes(r#"{"k": [{"suffix": "ball"}]}"#, &[("k", "String", "baseball")]));
    assert!(!check_attributes(r#"{"k": [{"suffix": "ball"}]}"#, &[("k", "String", "balls")]));
    assert!(check_attributes(r#"{"k": [{"equals-ignore-case": "RuGbY"}]}"#, &[("k", "String", "rugby")]));
    assert!(!check_attributes(r#"{"k": [{"equals-ignore-case": "rugby"}]}"#, &[("k", "String", "rugby league")]));
    // String conditions never match numbers.
    assert!(!check_attributes(r#"{"k": [{"prefix": "1"}]}"#, &[("k", "Number", "10")]));
}

#[test]
fn test_filter_anything_but_needs_the_key() {
    let policy = r#"{"store": [{"anything-but": ["a", "b"]}]}"#;
    assert!(check_attributes(policy, &[("store", "String", "c")]));
    assert!(!check_attributes(policy, &[("store", "String", "a")]));
    assert!(!check_attributes(policy, &[("other", "String", "c")]));
    let numbers = r#"{"price": [{"anything-but": [100, 200]}]}"#;
    assert!(check_attributes(numbers, &[("price", "Number", "150")]));
    assert!(!check_attributes(numbers, &[("price", "Number", "200.0")]));
    let single = r#"{"store": [{"anything-but": "a"}]}"#;
    assert!(check_attributes(single, &[("store", "String", "b")]));
    let prefix = r#"{"event": [{"anything-but": {"prefix": "order-"}}]}"#;
    assert!(check_attributes(prefix, &[("event", "String", "refund-1")]));
    assert!(!check_attributes(prefix, &[("event", "String", "order-1")]));
    // Admitting a missing key takes `exists: false` beside it.
    let or_missing = r#"{"store": [{"anything-but": "a"}, {"exists": false}]}"#;
    assert!(check_attributes(or_missing, &[("other", "String", "x")]));
}

#[test]
fn test_filter_numeric_comparisons_and_ranges() {
    let check = |policy: &str, value: &str| check_attributes(policy, &[("n", "Number", value)]);
    assert!(check(r#"{"n": [{"numeric": ["=", 300]}]}"#, "300.0"));
    assert!(!check(r#"{"n": [{"numeric": ["=", 300]}]}"#, "300.1"));
    assert!(check(r#"{"n": [{"numeric": [">", 0, "<=", 150]}]}"#, "150"));
    assert!(!check(r#"{"n": [{"numeric": [">", 0, "<=", 150]}]}"#, "0"));
    assert!(check(r#"{"n": [{"numeric": [">=", 0, "<", 150]}]}"#, "0"));
    assert!(!check(r#"{"n": [{"numeric": [">=", 0, "<", 150]}]}"#, "150"));
    assert!(check(r#"{"n": [{"numeric": ["<", -5]}]}"#, "-5.5"));
    assert!(!check(r#"{"n": [{"numeric": ["<", -5]}]}"#, "not a number"));
    // Five decimals of precision.
    assert!(check(r#"{"n": [{"numeric": ["=", 1.000001]}]}"#, "1"));
}

#[test]
fn test_filter_exists() {
    let present = r#"{"k": [{"exists": true}]}"#;
    let absent = r#"{"k": [{"exists": false}]}"#;
    assert!(check_attributes(present, &[("k", "String", "v")]));
    assert!(!check_attributes(present, &[("j", "String", "v")]));
    assert!(check_attributes(absent, &[("j", "String", "v")]));
    assert!(!check_attributes(absent, &[("k", "String", "v")]));
    // AWS: `exists: false` does not match a message without attributes.
    assert!(!check_attributes(absent, &[]));
    assert!(check_body(absent, r#"{"j": 1}"#));
    assert!(!check_body(present, r#"{"k": null}"#));
}

#[test]
fn test_filter_cidr_v4_and_v6() {
    let v4 = r#"{"source_ip": [{"cidr": "10.0.0.0/24"}]}"#;
    assert!(check_attributes(v4, &[("source_ip", "String", "10.0.0.255")]));
    assert!(!check_attributes(v4, &[("source_ip", "String", "10.0.1.0")]));
    assert!(!check_attributes(v4, &[("source_ip", "String", "not an address")]));
    let v6 = r#"{"source_ip": [{"cidr": "2001:db8::/32"}]}"#;
    assert!(check_attributes(v6, &[("source_ip", "String", "2001:db8:ffff::1")]));
    assert!(!check_attributes(v6, &[("source_ip", "String", "2001:db9::1")]));
    assert!(!check_attributes(v6, &[("source_ip", "String", "10.0.0.1")]));
    let everything = r#"{"source_ip": [{"cidr": "0.0.0.0/0"}]}"#;
    assert!(check_attributes(everything, &[("source_ip", "String", "192.168.1.1")]));
}

#[test]
fn test_filter_or_with_keys_beside_it() {
    let policy =
        r#"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}"#;
    let cpu = [("source", "String", "aws.cloudwatch"), ("metricName", "String", "CPUUtilization")];
    assert!(check_attributes(policy, &cpu));
    let ec2 = [("source", "String", "aws.cloudwatch"), ("namespace", "String", "AWS/EC2")];
    assert!(check_attributes(policy, &ec2));
    let wrong_source = [("source", "String", "aws.s3"), ("namespace", "String", "AWS/EC2")];
    assert!(!check_attributes(policy, &wrong_source));
    let no_branch = [("source", "String", "aws.cloudwatch"), ("namespace", "String", "AWS/S3")];
    assert!(!check_attributes(policy, &no_branch));
}

#[test]
fn test_filter_body_nested_keys_and_arrays() {
    let policy = r#"{"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}}"#;
    assert!(check_body(policy, r#"{"order": {"status": "paid", "total": 12.5}}"#));
    assert!(!check_body(policy, r#"{"order": {"status": "open", "total": 12.5}}"#));
    assert!(!check_body(policy, r#"{"status": "paid", "total": 12.5}"#));
    // Arrays of values and of objects are walked.
    let items = r#"{"items": {"sku": ["B-2"]}}"#;
    assert!(check_body(items, r#"{"items": [{"sku": "A-1"}, {"sku": "B-2"}]}"#));
    assert!(check_body(r#"{"tags": ["red"]}"#, r#"{"tags": ["blue", "red"]}"#));
    // true, false and null match themselves only.
    assert!(check_body(r#"{"ok": [true], "none": [null]}"#, r#"{"ok": true, "none": null}"#));
    assert!(!check_body(r#"{"ok": [true]}"#, r#"{"ok": "true"}"#));
    // A body that is not a JSON object matches no body policy.
    assert!(!check_body(r#"{"ok": [true]}"#, "plain text"));
    assert!(!check_body(r#"{"ok": [true]}"#, "[1, 2]"));
}

#[test]
fn test_filter_refusals_give_aws_reasons() {
    let attributes = FilterScope::MessageAttributes;
    let body = FilterScope::MessageBody;
    let cases: &[(&str, FilterScope, &str)] = &[
        (
            r#"{"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "f": [1]}"#,
            attributes,
            "Filter policy can not have more than 5 keys",
        ),
        (r#"{"a": []}"#, attributes, "Empty arrays are not allowed"),
        (r#"{"a": "x"}"#, attributes, "\"a\" must be an object or an array"),
        (
            r#"{"a": {"b": ["x"]}}"#,
            attributes,
            "Filter policy scope MessageAttributes does not support nested filter policy",
        ),
        (r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#, attributes, "Only one key allowed in match expression"),
        (r#"{"a": [{"wildcard": "x*"}]}"#, attributes, "Unrecognized match type wildcard"),
        (r#"{"a": [["x"]]}"#, attributes, "Match value must be String, number, true, false, or null"),
        (r#"{"a": [{"numeric": [">", 1, "<", 2, "=", 3]}]}"#, attributes, "Too many elements in numeric expression"),
        (r#"{"a": [{"numeric": [">", 5, "<", 2]}]}"#, attributes, "Bottom must be less than top"),
        (r#"{"a": [{"numeric": [">", "x"]}]}"#, attributes, "Value of > must be numeric"),
        (r#"{"a": [{"numeric": ["<", 1, ">", 0]}]}"#, attributes, "Bad numeric range operator"),
        (r#"{"a": [{"exists": "yes"}]}"#, attributes, "exists match pattern must be either true or false."),
        (r#"{"a": [{"cidr": "10.0.0.0"}]}"#, attributes, "Malformed CIDR, one '/' required"),
        (r#"{"a": [{"cidr": "10.0.0.300/24"}]}"#, attributes, "Nonstandard IP address: 10.0.0.300"),
        (r#"{"a": [{"anything-but": {"suffix": "x"}}]}"#, attributes, "Unsupported anything-but pattern: suffix"),
        (r#"["a"]"#, body, "Filter policy must be a JSON object"),
    ];
    for (policy, scope, reason) in cases {
        assert_eq!(refusal(policy, *scope), *reason, "policy {policy}");
    }
    assert!(refusal("{not json", attributes).starts_with("failed to parse JSON. "));
    // 6 x 5 x 6 = 180 combinations.
    let complex = r#"{"a": [1,2,3,4,5,6], "b": [1,2,3,4,5], "c": [1,2,3,4,5,6]}"#;
    assert_eq!(refusal(complex, attributes), "Filter policy is too complex");
    // The branches of an $or add up: 3 x (50 + 1) = 153.
    let fifty: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let branches = format!(r#"{{"a": [1,2,3], "$or": [{{"b": [{}]}}, {{"c": [1]}}]}}"#, fifty.join(","));
    assert_eq!(refusal(&branches, attributes), "Filter policy is too complex");
    // Nested keys count as keys.
    let nested = r#"{"a": {"b": [1], "c": [1], "d": [1]}, "e": [1], "f": [1], "g": [1]}"#;
    assert_eq!(refusal(nested, body), "Filter policy can not have more than 5 keys");
}

#[test]
fn test_filter_accepts_the_limits_exactly() {
    let five = r#"{"a": [1,2,3,4,5], "b": [1,2,3,4,5], "c": [1,2,3,4,5,6], "d": [1], "e": [1]}"#;
    assert!(FilterPolicy::parse(five, FilterScope::MessageAttributes).is_ok(), "5 keys, 150 combinations");
}

proptest! {
    /// An exact-string policy over any attribute takes a message exactly when the attribute is
    /// one of its values.
    #[test]
    fn test_filter_exact_strings_match_set_membership(
        values in proptest::collection::btree_set("[a-z]{1,3}", 1..6),
        sent in "[a-z]{1,3}",
    ) {
        let listed: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
        let policy = format!(r#"{{"k": [{}]}}"#, listed.join(","));
        prop_assert_eq!(check_attributes(&policy, &[("k", "String", &sent)]), values.contains(&sent));
    }

    /// A numeric range takes exactly the numbers inside it.
    #[test]
    fn test_filter_numeric_ranges_match_arithmetic(low in -1000i32..1000, width in 1i32..500, value in -2000i32..2000) {
        let high = low + width;
        let policy = format!(r#"{{"n": [{{"numeric": [">=", {low}, "<", {high}]}}]}}"#);
        let inside = low <= value && value < high;
        prop_assert_eq!(check_attributes(&policy, &[("n", "Number", &value.to_string())]), inside);
    }

    /// Any text is either a policy or refused with a reason; parsing never panics.
    #[test]
    fn test_filter_parse_refuses_with_a_reason(text in ".{0,64}") {
        for scope in [FilterScope::MessageBody, FilterScope::MessageAttributes] {
            if let Err(error) = FilterPolicy::parse(&text, scope) {
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }
}
