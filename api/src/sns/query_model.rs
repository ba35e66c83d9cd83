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
const SUBSCRIPTION_ARN: Member = string("SubscriptionArn");

const MESSAGE_ATTRIBUTE: [Member; 3] = [string("DataType"), string("StringValue"), string("BinaryValue")];
static MESSAGE_ATTRIBUTE_MAP: Shape = Shape::Wrapped(&Shape::Map {
    item: "entry",
    key: "Name",
    value: "Value",
    value_shape: &Shape::Structure(&MESSAGE_ATTRIBUTE),
});
const PUBLISH_ENTRY: [Member; 7] = [
    string("Id"),
    string("Message"),
    string("Subject"),
    string("MessageStructure"),
    member("MessageAttributes", &MESSAGE_ATTRIBUTE_MAP),
    string("MessageDeduplicationId"),
    string("MessageGroupId"),
];
static PUBLISH_ENTRY_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&PUBLISH_ENTRY)));
const PUBLISHED: [Member; 3] = [string("Id"), string("MessageId"), string("SequenceNumber")];
static PUBLISHED_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&PUBLISHED)));
const FAILED: [Member; 4] = [string("Id"), string("Code"), string("Message"), string("SenderFault")];
static FAILED_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&FAILED)));
const SUBSCRIPTION: [Member; 5] =
    [SUBSCRIPTION_ARN, string("Owner"), string("Protocol"), string("Endpoint"), TOPIC_ARN];
static SUBSCRIPTION_LIST: Shape = Shape::Wrapped(&list_of("member", &Shape::Structure(&SUBSCRIPTION)));

static OPERATIONS: [Operation<SnsAction>; 19] = [
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
    Operation {
        action: SnsAction::Subscribe,
        input: &[
            TOPIC_ARN,
            string("Protocol"),
            string("Endpoint"),
            member("Attributes", &ATTRIBUTE_MAP),
            string("ReturnSubscriptionArn"),
        ],
        output: Some(&[SUBSCRIPTION_ARN]),
    },
    Operation {
        action: SnsAction::ConfirmSubscription,
        input: &[TOPIC_ARN, string("Token"), string("AuthenticateOnUnsubscribe")],
        output: Some(&[SUBSCRIPTION_ARN]),
    },
    Operation { action: SnsAction::Unsubscribe, input: &[SUBSCRIPTION_ARN], output: None },
    Operation {
        action: SnsAction::GetSubscriptionAttributes,
        input: &[SUBSCRIPTION_ARN],
        output: Some(&[member("Attributes", &ATTRIBUTE_MAP)]),
    },
    Operation {
        action: SnsAction::SetSubscriptionAttributes,
        input: &[SUBSCRIPTION_ARN, string("AttributeName"), string("AttributeValue")],
        output: None,
    },
    Operation {
        action: SnsAction::ListSubscriptions,
        input: &[string("NextToken")],
        output: Some(&[member("Subscriptions", &SUBSCRIPTION_LIST), string("NextToken")]),
    },
    Operation {
        action: SnsAction::ListSubscriptionsByTopic,
        input: &[TOPIC_ARN, string("NextToken")],
        output: Some(&[member("Subscriptions", &SUBSCRIPTION_LIST), string("NextToken")]),
    },
    Operation {
        action: SnsAction::Publish,
        input: &[
            TOPIC_ARN,
            string("TargetArn"),
            string("PhoneNumber"),
            string("Message"),
            string("Subject"),
            string("MessageStructure"),
            member("MessageAttributes", &MESSAGE_ATTRIBUTE_MAP),
            string("MessageDeduplicationId"),
            string("MessageGroupId"),
        ],
        output: Some(&[string("MessageId"), string("SequenceNumber")]),
    },
    Operation {
        action: SnsAction::PublishBatch,
        input: &[TOPIC_ARN, member("PublishBatchRequestEntries", &PUBLISH_ENTRY_LIST)],
        output: Some(&[member("Successful", &PUBLISHED_LIST), member("Failed", &FAILED_LIST)]),
    },
];
