//! SQS's model for the Query protocol: how each action's JSON members are flattened into form
//! parameters and XML elements.
//!
//! Transcribed from botocore's `query` model of SQS 2012-11-05 (its `locationName` and `flattened`
//! hints: every SQS list and map is flattened), plus `MessageSystemAttributeNames`, added after SQS
//! moved to JSON 1.0, under `MessageSystemAttributeName.N` as the AWS API reference documents it.
//! Members are listed in model order, which is the order responses write them in.

use super::request::SqsAction;
use crate::query::model::{
    integer, list_of, member, string, string_list, Member, ModelAction, Operation, ServiceModel, Shape,
};

/// SQS as the Query protocol sees it.
pub static MODEL: ServiceModel<SqsAction> = ServiceModel {
    namespace: "http://queue.amazonaws.com/doc/2012-11-05/",
    version: "2012-11-05",
    operations: &OPERATIONS,
};

impl ModelAction for SqsAction {
    fn name(self) -> &'static str {
        SqsAction::name(self)
    }
}

static ATTRIBUTE_MAP: Shape =
    Shape::Map { item: "Attribute", key: "Name", value: "Value", value_shape: &Shape::String };
static TAG_MAP: Shape = Shape::Map { item: "Tag", key: "Key", value: "Value", value_shape: &Shape::String };
static QUEUE_URLS: Shape = string_list("QueueUrl");
const MESSAGE_ATTRIBUTE_VALUE: [Member; 5] = [
    string("StringValue"),
    string("BinaryValue"),
    member("StringListValues", &string_list("StringListValue")),
    member("BinaryListValues", &string_list("BinaryListValue")),
    string("DataType"),
];
static MESSAGE_ATTRIBUTE_MAP: Shape = Shape::Map {
    item: "MessageAttribute",
    key: "Name",
    value: "Value",
    value_shape: &Shape::Structure(&MESSAGE_ATTRIBUTE_VALUE),
};
static MESSAGE_SYSTEM_ATTRIBUTE_MAP: Shape = Shape::Map {
    item: "MessageSystemAttribute",
    key: "Name",
    value: "Value",
    value_shape: &Shape::Structure(&MESSAGE_ATTRIBUTE_VALUE),
};

const QUEUE_URL: Member = string("QueueUrl");
const ATTRIBUTES: Member = member("Attributes", &ATTRIBUTE_MAP);
const ATTRIBUTE_NAMES: Member = member("AttributeNames", &string_list("AttributeName"));

/// The members of SendMessage (after `QueueUrl`) and of a SendMessageBatch entry (after `Id`).
const fn send_members(first: Member) -> [Member; 7] {
    [
        first,
        string("MessageBody"),
        integer("DelaySeconds"),
        member("MessageAttributes", &MESSAGE_ATTRIBUTE_MAP),
        member("MessageSystemAttributes", &MESSAGE_SYSTEM_ATTRIBUTE_MAP),
        string("MessageDeduplicationId"),
        string("MessageGroupId"),
    ]
}
const SEND_MESSAGE_INPUT: [Member; 7] = send_members(QUEUE_URL);
const SEND_BATCH_ENTRY: [Member; 7] = send_members(string("Id"));
const DELETE_BATCH_ENTRY: [Member; 2] = [string("Id"), string("ReceiptHandle")];
const CHANGE_VISIBILITY_BATCH_ENTRY: [Member; 3] =
    [string("Id"), string("ReceiptHandle"), integer("VisibilityTimeout")];

const MESSAGE: [Member; 7] = [
    string("MessageId"),
    string("ReceiptHandle"),
    string("MD5OfBody"),
    string("Body"),
    ATTRIBUTES,
    string("MD5OfMessageAttributes"),
    member("MessageAttributes", &MESSAGE_ATTRIBUTE_MAP),
];
const SEND_MESSAGE_OUTPUT: [Member; 5] = [
    string("MD5OfMessageBody"),
    string("MD5OfMessageAttributes"),
    string("MD5OfMessageSystemAttributes"),
    string("MessageId"),
    string("SequenceNumber"),
];
const SEND_BATCH_RESULT_ENTRY: [Member; 6] = [
    string("Id"),
    string("MessageId"),
    string("MD5OfMessageBody"),
    string("MD5OfMessageAttributes"),
    string("MD5OfMessageSystemAttributes"),
    string("SequenceNumber"),
];
const ID_ONLY: [Member; 1] = [string("Id")];
const BATCH_RESULT_ERROR_ENTRY: [Member; 4] = [string("Id"), string("SenderFault"), string("Code"), string("Message")];
const FAILED: Member =
    member("Failed", &list_of("BatchResultErrorEntry", &Shape::Structure(&BATCH_RESULT_ERROR_ENTRY)));
const MOVE_TASK_RESULT_ENTRY: [Member; 9] = [
    string("TaskHandle"),
    string("Status"),
    string("SourceArn"),
    string("DestinationArn"),
    string("MaxNumberOfMessagesPerSecond"),
    string("ApproximateNumberOfMessagesMoved"),
    string("ApproximateNumberOfMessagesToMove"),
    string("FailureReason"),
    string("StartedTimestamp"),
];

/// Every SQS action.
static OPERATIONS: [Operation<SqsAction>; 23] = [
    Operation {
        action: SqsAction::CreateQueue,
        input: &[string("QueueName"), ATTRIBUTES, member("tags", &TAG_MAP)],
        output: Some(&[QUEUE_URL]),
    },
    Operation { action: SqsAction::DeleteQueue, input: &[QUEUE_URL], output: None },
    Operation {
        action: SqsAction::GetQueueUrl,
        input: &[string("QueueName"), string("QueueOwnerAWSAccountId")],
        output: Some(&[QUEUE_URL]),
    },
    Operation {
        action: SqsAction::ListQueues,
        input: &[string("QueueNamePrefix"), string("NextToken"), integer("MaxResults")],
        output: Some(&[member("QueueUrls", &QUEUE_URLS), string("NextToken")]),
    },
    Operation {
        action: SqsAction::GetQueueAttributes,
        input: &[QUEUE_URL, ATTRIBUTE_NAMES],
        output: Some(&[ATTRIBUTES]),
    },
    Operation { action: SqsAction::SetQueueAttributes, input: &[QUEUE_URL, ATTRIBUTES], output: None },
    Operation { action: SqsAction::TagQueue, input: &[QUEUE_URL, member("Tags", &TAG_MAP)], output: None },
    Operation {
        action: SqsAction::UntagQueue,
        input: &[QUEUE_URL, member("TagKeys", &string_list("TagKey"))],
        output: None,
    },
    Operation { action: SqsAction::ListQueueTags, input: &[QUEUE_URL], output: Some(&[member("Tags", &TAG_MAP)]) },
    Operation { action: SqsAction::PurgeQueue, input: &[QUEUE_URL], output: None },
    Operation {
        action: SqsAction::AddPermission,
        input: &[
            QUEUE_URL,
            string("Label"),
            member("AWSAccountIds", &string_list("AWSAccountId")),
            member("Actions", &string_list("ActionName")),
        ],
        output: None,
    },
    Operation { action: SqsAction::RemovePermission, input: &[QUEUE_URL, string("Label")], output: None },
    Operation { action: SqsAction::SendMessage, input: &SEND_MESSAGE_INPUT, output: Some(&SEND_MESSAGE_OUTPUT) },
    Operation {
        action: SqsAction::SendMessageBatch,
        input: &[
            QUEUE_URL,
            member("Entries", &list_of("SendMessageBatchRequestEntry", &Shape::Structure(&SEND_BATCH_ENTRY))),
        ],
        output: Some(&[
            member("Successful", &list_of("SendMessageBatchResultEntry", &Shape::Structure(&SEND_BATCH_RESULT_ENTRY))),
            FAILED,
        ]),
    },
    Operation {
        action: SqsAction::ReceiveMessage,
        input: &[
            QUEUE_URL,
            ATTRIBUTE_NAMES,
            member("MessageSystemAttributeNames", &string_list("MessageSystemAttributeName")),
            member("MessageAttributeNames", &string_list("MessageAttributeName")),
            integer("MaxNumberOfMessages"),
            integer("VisibilityTimeout"),
            integer("WaitTimeSeconds"),
            string("ReceiveRequestAttemptId"),
        ],
        output: Some(&[member("Messages", &list_of("Message", &Shape::Structure(&MESSAGE)))]),
    },
    Operation { action: SqsAction::DeleteMessage, input: &[QUEUE_URL, string("ReceiptHandle")], output: None },
    Operation {
        action: SqsAction::DeleteMessageBatch,
        input: &[
            QUEUE_URL,
            member("Entries", &list_of("DeleteMessageBatchRequestEntry", &Shape::Structure(&DELETE_BATCH_ENTRY))),
        ],
        output: Some(&[
            member("Successful", &list_of("DeleteMessageBatchResultEntry", &Shape::Structure(&ID_ONLY))),
            FAILED,
        ]),
    },
    Operation {
        action: SqsAction::ChangeMessageVisibility,
        input: &[QUEUE_URL, string("ReceiptHandle"), integer("VisibilityTimeout")],
        output: None,
    },
    Operation {
        action: SqsAction::ChangeMessageVisibilityBatch,
        input: &[
            QUEUE_URL,
            member(
                "Entries",
                &list_of("ChangeMessageVisibilityBatchRequestEntry", &Shape::Structure(&CHANGE_VISIBILITY_BATCH_ENTRY)),
            ),
        ],
        output: Some(&[
            member("Successful", &list_of("ChangeMessageVisibilityBatchResultEntry", &Shape::Structure(&ID_ONLY))),
            FAILED,
        ]),
    },
    Operation {
        action: SqsAction::ListDeadLetterSourceQueues,
        input: &[QUEUE_URL, string("NextToken"), integer("MaxResults")],
        output: Some(&[member("queueUrls", &QUEUE_URLS), string("NextToken")]),
    },
    Operation {
        action: SqsAction::StartMessageMoveTask,
        input: &[string("SourceArn"), string("DestinationArn"), integer("MaxNumberOfMessagesPerSecond")],
        output: Some(&[string("TaskHandle")]),
    },
    Operation {
        action: SqsAction::CancelMessageMoveTask,
        input: &[string("TaskHandle")],
        output: Some(&[string("ApproximateNumberOfMessagesMoved")]),
    },
    Operation {
        action: SqsAction::ListMessageMoveTasks,
        input: &[string("SourceArn"), integer("MaxResults")],
        output: Some(&[member(
            "Results",
            &list_of("ListMessageMoveTasksResultEntry", &Shape::Structure(&MOVE_TASK_RESULT_ENTRY)),
        )]),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_every_action_has_a_query_model() {
        for action in SqsAction::ALL {
            assert!(MODEL.operation(*action).is_some(), "{action:?}");
        }
    }
}
