//! SNS's model for the Query protocol (2010-03-31), for the actions Shoal serves: lists and maps
//! are wrapped (`Tags.member.N.Key`, `Attributes.entry.N.key`; `<Tags><member>..</member></Tags>`).

use super::request::SnsAction;
use crate::query::model::{list_of, member, string, Member, ModelAction, Operation, ServiceModel, Shape};

/// SNS as the Query protocol sees it.
pub static MODEL: ServiceModel<SnsAction> = ServiceModel {
    namespace: "http://sns.amazonaws.com/doc/2010-03-31/",
    version: "2010-03-31",
    operations: &OPERATIONS,
};

impl ModelAction for SnsAction {
    fn name(self) -> &'static str {
        SnsAction::name(self)
    }
}

static ATTRIBUTE_MAP: Shape =
    Shape::Wrapped(&Shape::Map { item: "entry", key: "key", value: "value", value_shape: &Shape::String });
const TAG: [Member; 2] = [string("Key"), string("Value")];
static TAG_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&TAG)));
static KEY_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::String));
const TOPIC: [Member; 1] = [string("TopicArn")];
static TOPIC_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&TOPIC)));

const TOPIC_ARN: Member = string("TopicArn");
const RESOURCE_ARN: Member = string("ResourceArn");

static OPERATIONS: [Operation<SnsAction>; 10] = [
    Operation {
        action: SnsAction::CreateTopic,
        input: &[string("Name"), member("Attributes", &ATTRIBUTE_MAP), member("Tags", &TAG_LIST)],
        output: Some(&[TOPIC_ARN]),
    },
    Operation { action: SnsAction::DeleteTopic, input: &[TOPIC_ARN], output: None },
    Operation {
        action: SnsAction::GetTopicAttributes,
        input: &[TOPIC_ARN],
        output: Some(&[member("Attributes", &ATTRIBUTE_MAP)]),
    },
    Operation {
        action: SnsAction::SetTopicAttributes,
        input: &[TOPIC_ARN, string("AttributeName"), string("AttributeValue")],
        output: None,
    },
    Operation {
        action: SnsAction::ListTopics,
        input: &[string("NextToken")],
        output: Some(&[member("Topics", &TOPIC_LIST), string("NextToken")]),
    },
    Operation { action: SnsAction::TagResource, input: &[RESOURCE_ARN, member("Tags", &TAG_LIST)], output: Some(&[]) },
    Operation {
        action: SnsAction::UntagResource,
        input: &[RESOURCE_ARN, member("TagKeys", &KEY_LIST)],
        output: Some(&[]),
    },
    Operation {
        action: SnsAction::AddPermission,
        input: &[TOPIC_ARN, string("Label"), member("AWSAccountId", &KEY_LIST), member("ActionName", &KEY_LIST)],
        output: None,
    },
    Operation { action: SnsAction::RemovePermission, input: &[TOPIC_ARN, string("Label")], output: None },
    Operation {
        action: SnsAction::ListTagsForResource,
        input: &[RESOURCE_ARN],
        output: Some(&[member("Tags", &TAG_LIST)]),
    },
];
