//! Typed access to a JSON 1.0 request object (the Query protocol is converted to the same
//! shape first). Wrong types and missing members become AWS-shaped errors.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};
use shoal_engine::message::{AttributeValue, MessageAttributes};

use crate::error::ApiError;

pub struct Input<'a> {
    members: &'a Map<String, Value>,
}

fn wrong_type(name: &str, expected: &str) -> ApiError {
    ApiError::invalid_parameter(format!("Value for parameter {name} is invalid. Reason: Expected {expected}."))
}

impl<'a> Input<'a> {
    pub fn new(members: &'a Map<String, Value>) -> Input<'a> {
        Input { members }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    pub fn required_string(&self, name: &str) -> Result<String, ApiError> {
        self.string(name)?.ok_or_else(|| ApiError::missing_parameter(name))
    }

    /// An integer member; numeric strings are accepted too.
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(name, "an integer")),
            Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| wrong_type(name, "an integer")),
            Some(_) => Err(wrong_type(name, "an integer")),
        }
    }

    /// An integer member that must fall in `min..=max` ("Must be between 1 and 10, if provided.").
    pub fn bounded(&self, name: &str, min: i64, max: i64) -> Result<Option<u32>, ApiError> {
        self.bounded_with(name, min, max, &format!("Must be between {min} and {max}, if provided."))
    }

    /// `bounded`, where SQS words the range as "Must be >= 0 and <= 20, if provided.".
    pub fn bounded_at_least(&self, name: &str, min: i64, max: i64) -> Result<Option<u32>, ApiError> {
        self.bounded_with(name, min, max, &format!("Must be >= {min} and <= {max}, if provided."))
    }

    fn bounded_with(&self, name: &str, min: i64, max: i64, reason: &str) -> Result<Option<u32>, ApiError> {
        match self.integer(name)? {
            None => Ok(None),
            Some(value) if (min..=max).contains(&value) => {
                u32::try_from(value).map(Some).map_err(|_| wrong_type(name, "an integer from 0 to 4294967295"))
            }
            Some(value) => Err(ApiError::invalid_parameter(format!(
                "Value {value} for parameter {name} is invalid. Reason: {reason}"
            ))),
        }
    }

    pub fn string_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(|| wrong_type(name, "a list of strings")))
                .collect(),
            Some(_) => Err(wrong_type(name, "a list of strings")),
        }
    }

    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    _ => Err(wrong_type(name, "a map of strings")),
                })
                .collect(),
            Some(_) => Err(wrong_type(name, "a map of strings")),
        }
    }

    /// A list of objects (batch entries), each as its own `Input`.
    pub fn objects(&self, name: &str) -> Result<Vec<Input<'a>>, ApiError> {
        match self.members.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_object().map(Input::new).ok_or_else(|| wrong_type(name, "a list of structures")))
                .collect(),
            Some(_) => Err(wrong_type(name, "a list of structures")),
        }
    }

    /// `MessageAttributes` / `MessageSystemAttributes`: name -> {DataType, StringValue | BinaryValue}.
    pub fn message_attributes(&self, name: &str) -> Result<MessageAttributes, ApiError> {
        let Some(value) = self.members.get(name).filter(|v| !v.is_null()) else {
            return Ok(MessageAttributes::new());
        };
        let Value::Object(map) = value else {
            return Err(wrong_type(name, "a map of message attributes"));
        };
        let mut attributes = MessageAttributes::new();
        for (attribute_name, attribute) in map {
            let Some(fields) = attribute.as_object() else {
                return Err(wrong_type(name, "a map of message attributes"));
            };
            let fields = Input::new(fields);
            let data_type = fields.string("DataType")?.unwrap_or_default();
            let string_value = fields.string("StringValue")?;
            let binary_value = match fields.string("BinaryValue")? {
                None => None,
                Some(encoded) => {
                    Some(base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()).map_err(|_| {
                        ApiError::invalid_parameter(format!(
                            "The binary value of message attribute '{attribute_name}' is not valid base64."
                        ))
                    })?)
                }
            };
            attributes.insert(attribute_name.clone(), AttributeValue { data_type, string_value, binary_value });
        }
        Ok(attributes)
    }
}
