//! The Query protocol's model of a service: for each operation, how its JSON members are
//! flattened into form parameters (requests, read by `form.rs`) and into XML elements
//! (responses, written by `xml.rs`). Generic over the service's action type, so SQS
//! (`sqs/query_model.rs`) and SNS (`sns/query_model.rs`) describe themselves here and share the
//! codec.

/// A service's action: its name on the wire.
pub trait ModelAction: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    fn name(self) -> &'static str;
}

/// A service as the Query protocol sees it.
#[derive(Debug)]
pub struct ServiceModel<A: 'static> {
    /// The XML namespace of its responses and errors.
    pub namespace: &'static str,
    /// The API version its requests carry (`Version=`).
    pub version: &'static str,
    pub operations: &'static [Operation<A>],
}

impl<A: ModelAction> ServiceModel<A> {
    /// The model of `action`, or `None` for an action the model lacks.
    pub fn operation(&self, action: A) -> Option<&'static Operation<A>> {
        self.operations.iter().find(|operation| operation.action == action)
    }
}

/// How one JSON member looks on the Query wire.
#[derive(Debug)]
pub enum Shape {
    /// Text. In responses this is any JSON scalar (strings, booleans, longs) written as is.
    String,
    /// A request integer: the form value must parse as one, and becomes a JSON number.
    Integer,
    /// Flattened list: `<item>.N` in requests, repeated `<item>` elements in responses.
    List {
        item: &'static str,
        member: &'static Shape,
    },
    /// Flattened map: `<item>.N.<key>` / `<item>.N.<value>` in requests, repeated
    /// `<item><key>k</key><value>v</value></item>` in responses.
    Map {
        item: &'static str,
        key: &'static str,
        value: &'static str,
        value_shape: &'static Shape,
    },
    Structure(&'static [Member]),
    /// A list or map inside an element of the member's name (SNS's lists and maps): requests
    /// `<Member>.<item>.N...`, responses `<Member><item>..</item>...</Member>`, where `<item>`
    /// is the inner shape's item name (`member` for lists, `entry` for maps).
    Wrapped(&'static Shape),
}

#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// The member name in the JSON 1.0 protocol.
    pub json: &'static str,
    pub shape: &'static Shape,
}

impl Member {
    /// The first part of the member's form parameter names.
    pub fn query_name(&self) -> &'static str {
        match self.shape {
            Shape::List { item, .. } | Shape::Map { item, .. } => item,
            Shape::String | Shape::Integer | Shape::Structure(_) | Shape::Wrapped(_) => self.json,
        }
    }
}

#[derive(Debug)]
pub struct Operation<A> {
    pub action: A,
    pub input: &'static [Member],
    /// `None` for actions whose output is empty: their response has no Result element.
    pub output: Option<&'static [Member]>,
}

pub const fn string(json: &'static str) -> Member {
    Member { json, shape: &Shape::String }
}

pub const fn integer(json: &'static str) -> Member {
    Member { json, shape: &Shape::Integer }
}

pub const fn member(json: &'static str, shape: &'static Shape) -> Member {
    Member { json, shape }
}

pub const fn list_of(item: &'static str, member: &'static Shape) -> Shape {
    Shape::List { item, member }
}

pub const fn string_list(item: &'static str) -> Shape {
    Shape::List { item, member: &Shape::String }
}
