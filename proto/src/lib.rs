//! The intent controller wire contract: package `api`, generated from
//! `proto/intent.proto` (the original hawkv6 contract plus one optional
//! `PathResult.error` field) and `proto/admin.proto` (the controller's admin
//! API). One copy, used by the agent, the controller and labctl.
//! [`validate`] is the intent rule both sides check by; [`config`] is how
//! configuration files (the agent's, the controller's static table) write
//! intents.
//!
//! ```
//! use intent_proto::api::{Intent, IntentType, PathRequest};
//! let req = PathRequest {
//!     ipv6_source_address: "fcbb:cc00:1::a".into(),
//!     ipv6_destination_address: "fcbb:cc00:2::a".into(),
//!     intents: vec![Intent { r#type: IntentType::HighBandwidth as i32, values: vec![] }],
//! };
//! assert_eq!(req.intents[0].r#type(), IntentType::HighBandwidth);
//! ```

/// Generated messages, enums, `intent_controller_{client,server}` and
/// `controller_admin_{client,server}`.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod api {
    tonic::include_proto!("api");
}

pub mod config;
pub mod validate;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::api::*;
    use prost::Message;

    /// Bytes of a PathResult as the original (field 1..4 only) encodes it,
    /// written out by hand from the protobuf encoding rules: the extension
    /// field must not change them, and old bytes must decode.
    #[test]
    fn wire_compatible_with_original_fields() {
        let res = PathResult {
            ipv6_source_address: "a".into(),
            ipv6_destination_address: "b".into(),
            intents: vec![Intent {
                r#type: IntentType::LowLatency as i32,
                values: vec![Value {
                    r#type: ValueType::MaxValue as i32,
                    number_value: Some(300),
                    string_value: None,
                }],
            }],
            ipv6_sid_addresses: vec!["c".into()],
            error: None,
        };
        let bytes = res.encode_to_vec();
        let expected: Vec<u8> = vec![
            0x0a, 1, b'a', // 1: source
            0x12, 1, b'b', // 2: destination
            0x1a, 9, // 3: intent, 9 bytes
            0x08, 3, // type LOW_LATENCY
            0x12, 5, // values, 5 bytes
            0x08, 2, // MAX_VALUE
            0x10, 0xac, 0x02, // number_value 300
            0x22, 1, b'c', // 4: sid
        ];
        assert_eq!(bytes, expected);
        assert_eq!(PathResult::decode(&expected[..]).unwrap(), res);
    }

    #[test]
    fn error_extension_is_field_5_and_skipped_by_old_readers() {
        let res = PathResult {
            error: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(res.encode_to_vec(), vec![0x2a, 1, b'x']);
        // An original reader: same struct without field 5.
        #[derive(Clone, PartialEq, prost::Message)]
        struct OriginalPathResult {
            #[prost(string, tag = "1")]
            src: String,
            #[prost(string, repeated, tag = "4")]
            sids: Vec<String>,
        }
        let old = OriginalPathResult::decode(&res.encode_to_vec()[..]).unwrap();
        assert_eq!(old, OriginalPathResult::default());
    }

    #[test]
    fn enum_numbers_match_original() {
        assert_eq!(IntentType::LowUtilization as i32, 8);
        assert_eq!(IntentType::Sfc as i32, 7);
        assert_eq!(ValueType::FlexAlgoNr as i32, 4);
        assert_eq!(
            IntentType::from_str_name("INTENT_TYPE_LOW_PACKET_LOSS"),
            Some(IntentType::LowPacketLoss)
        );
    }
}
