//! Field tags: the numbers on the left of `=` in a FIX message.
//!
//! [`Tag`] is a newtype over `u32` so a tag can't be mixed up with a
//! sequence number or a length, with named constants for the tags the
//! session layer and the usual order flow use. [`Tag::name`] gives the FIX
//! field name for logs and assertion messages ("MsgType(35)").

use std::fmt;

/// A FIX field tag, such as `35` (MsgType).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Tag(pub u32);

macro_rules! tags {
    ($($(#[$doc:meta])* $konst:ident = $num:literal, $name:literal;)*) => {
        impl Tag {
            $($(#[$doc])* pub const $konst: Tag = Tag($num);)*

            /// The FIX field name of a well-known tag ("MsgType" for 35), or
            /// `None` for a tag this crate has no name for.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($num => Some($name),)*
                    _ => None,
                }
            }
        }
    };
}

tags! {
    /// 1: Account.
    ACCOUNT = 1, "Account";
    /// 6: AvgPx.
    AVG_PX = 6, "AvgPx";
    /// 7: BeginSeqNo (ResendRequest).
    BEGIN_SEQ_NO = 7, "BeginSeqNo";
    /// 8: BeginString, always the first field ("FIX.4.4").
    BEGIN_STRING = 8, "BeginString";
    /// 9: BodyLength, always the second field.
    BODY_LENGTH = 9, "BodyLength";
    /// 10: CheckSum, always the last field.
    CHECK_SUM = 10, "CheckSum";
    /// 11: ClOrdID.
    CL_ORD_ID = 11, "ClOrdID";
    /// 14: CumQty.
    CUM_QTY = 14, "CumQty";
    /// 15: Currency.
    CURRENCY = 15, "Currency";
    /// 16: EndSeqNo (ResendRequest; 0 means "up to the latest").
    END_SEQ_NO = 16, "EndSeqNo";
    /// 17: ExecID.
    EXEC_ID = 17, "ExecID";
    /// 20: ExecTransType (FIX 4.2 execution reports).
    EXEC_TRANS_TYPE = 20, "ExecTransType";
    /// 21: HandlInst.
    HANDL_INST = 21, "HandlInst";
    /// 31: LastPx.
    LAST_PX = 31, "LastPx";
    /// 32: LastQty (LastShares in FIX 4.2).
    LAST_QTY = 32, "LastQty";
    /// 34: MsgSeqNum.
    MSG_SEQ_NUM = 34, "MsgSeqNum";
    /// 35: MsgType.
    MSG_TYPE = 35, "MsgType";
    /// 36: NewSeqNo (SequenceReset).
    NEW_SEQ_NO = 36, "NewSeqNo";
    /// 37: OrderID.
    ORDER_ID = 37, "OrderID";
    /// 38: OrderQty.
    ORDER_QTY = 38, "OrderQty";
    /// 39: OrdStatus.
    ORD_STATUS = 39, "OrdStatus";
    /// 40: OrdType.
    ORD_TYPE = 40, "OrdType";
    /// 41: OrigClOrdID.
    ORIG_CL_ORD_ID = 41, "OrigClOrdID";
    /// 43: PossDupFlag.
    POSS_DUP_FLAG = 43, "PossDupFlag";
    /// 44: Price.
    PRICE = 44, "Price";
    /// 45: RefSeqNum (Reject).
    REF_SEQ_NUM = 45, "RefSeqNum";
    /// 49: SenderCompID.
    SENDER_COMP_ID = 49, "SenderCompID";
    /// 50: SenderSubID.
    SENDER_SUB_ID = 50, "SenderSubID";
    /// 52: SendingTime.
    SENDING_TIME = 52, "SendingTime";
    /// 54: Side.
    SIDE = 54, "Side";
    /// 55: Symbol.
    SYMBOL = 55, "Symbol";
    /// 56: TargetCompID.
    TARGET_COMP_ID = 56, "TargetCompID";
    /// 57: TargetSubID.
    TARGET_SUB_ID = 57, "TargetSubID";
    /// 58: Text.
    TEXT = 58, "Text";
    /// 59: TimeInForce.
    TIME_IN_FORCE = 59, "TimeInForce";
    /// 60: TransactTime.
    TRANSACT_TIME = 60, "TransactTime";
    /// 97: PossResend.
    POSS_RESEND = 97, "PossResend";
    /// 98: EncryptMethod (Logon; 0 = none).
    ENCRYPT_METHOD = 98, "EncryptMethod";
    /// 102: CxlRejReason.
    CXL_REJ_REASON = 102, "CxlRejReason";
    /// 103: OrdRejReason.
    ORD_REJ_REASON = 103, "OrdRejReason";
    /// 108: HeartBtInt (Logon, seconds).
    HEART_BT_INT = 108, "HeartBtInt";
    /// 112: TestReqID.
    TEST_REQ_ID = 112, "TestReqID";
    /// 115: OnBehalfOfCompID.
    ON_BEHALF_OF_COMP_ID = 115, "OnBehalfOfCompID";
    /// 122: OrigSendingTime (resent messages).
    ORIG_SENDING_TIME = 122, "OrigSendingTime";
    /// 123: GapFillFlag (SequenceReset).
    GAP_FILL_FLAG = 123, "GapFillFlag";
    /// 128: DeliverToCompID.
    DELIVER_TO_COMP_ID = 128, "DeliverToCompID";
    /// 141: ResetSeqNumFlag (Logon).
    RESET_SEQ_NUM_FLAG = 141, "ResetSeqNumFlag";
    /// 150: ExecType.
    EXEC_TYPE = 150, "ExecType";
    /// 151: LeavesQty.
    LEAVES_QTY = 151, "LeavesQty";
    /// 371: RefTagID (Reject).
    REF_TAG_ID = 371, "RefTagID";
    /// 372: RefMsgType (Reject).
    REF_MSG_TYPE = 372, "RefMsgType";
    /// 373: SessionRejectReason (Reject).
    SESSION_REJECT_REASON = 373, "SessionRejectReason";
    /// 789: NextExpectedMsgSeqNum (Logon, FIX 4.4).
    NEXT_EXPECTED_MSG_SEQ_NUM = 789, "NextExpectedMsgSeqNum";
}

impl Tag {
    /// The tag number.
    pub fn number(self) -> u32 {
        self.0
    }

    /// Whether the field belongs in the standard header. The encoder puts
    /// header fields before body fields, because engines such as QuickFIX
    /// reject a header field found after the body has begun.
    pub fn is_header(self) -> bool {
        matches!(
            self.0,
            8 | 9
                | 34
                | 35
                | 43
                | 49
                | 50
                | 52
                | 56
                | 57
                | 90
                | 91
                | 97
                | 115
                | 116
                | 122
                | 128
                | 129
                | 142
                | 143
                | 144
                | 145
                | 212
                | 213
                | 347
                | 369
                | 627
                | 1128
                | 1129
        )
    }
}

impl From<u32> for Tag {
    fn from(number: u32) -> Tag {
        Tag(number)
    }
}

/// `MsgType(35)` for a named tag, `9999` otherwise.
impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Values of MsgType (35) used by the session layer and the common order
/// flow.
pub mod msg_type {
    /// Heartbeat.
    pub const HEARTBEAT: &str = "0";
    /// TestRequest.
    pub const TEST_REQUEST: &str = "1";
    /// ResendRequest.
    pub const RESEND_REQUEST: &str = "2";
    /// Reject (session level).
    pub const REJECT: &str = "3";
    /// SequenceReset (gap fill or reset).
    pub const SEQUENCE_RESET: &str = "4";
    /// Logout.
    pub const LOGOUT: &str = "5";
    /// Logon.
    pub const LOGON: &str = "A";
    /// ExecutionReport.
    pub const EXECUTION_REPORT: &str = "8";
    /// OrderCancelReject.
    pub const ORDER_CANCEL_REJECT: &str = "9";
    /// NewOrderSingle.
    pub const NEW_ORDER_SINGLE: &str = "D";
    /// OrderCancelRequest.
    pub const ORDER_CANCEL_REQUEST: &str = "F";
    /// OrderCancelReplaceRequest.
    pub const ORDER_CANCEL_REPLACE_REQUEST: &str = "G";
    /// BusinessMessageReject.
    pub const BUSINESS_MESSAGE_REJECT: &str = "j";

    /// Whether a MsgType is a session-level (admin) message.
    pub fn is_admin(msg_type: &str) -> bool {
        matches!(msg_type, "0" | "1" | "2" | "3" | "4" | "5" | "A")
    }

    /// The FIX name of a well-known MsgType ("NewOrderSingle" for "D").
    pub fn name(msg_type: &str) -> Option<&'static str> {
        Some(match msg_type {
            "0" => "Heartbeat",
            "1" => "TestRequest",
            "2" => "ResendRequest",
            "3" => "Reject",
            "4" => "SequenceReset",
            "5" => "Logout",
            "A" => "Logon",
            "8" => "ExecutionReport",
            "9" => "OrderCancelReject",
            "D" => "NewOrderSingle",
            "F" => "OrderCancelRequest",
            "G" => "OrderCancelReplaceRequest",
            "j" => "BusinessMessageReject",
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_display() {
        assert_eq!(Tag::MSG_TYPE, Tag(35));
        assert_eq!(Tag::CHECK_SUM.name(), Some("CheckSum"));
        assert_eq!(Tag(9999).name(), None);
        assert_eq!(Tag::MSG_SEQ_NUM.to_string(), "MsgSeqNum(34)");
        assert_eq!(Tag(9999).to_string(), "9999");
        assert!(Tag::SENDING_TIME.is_header());
        assert!(!Tag::SYMBOL.is_header());
        assert!(msg_type::is_admin("A"));
        assert!(!msg_type::is_admin("D"));
        assert_eq!(msg_type::name("D"), Some("NewOrderSingle"));
    }
}
