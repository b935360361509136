//! Sorting subxt failures into what the client does next: reconnect (the transport broke),
//! give up (the node answered, with an error or bytes we cannot decode), or report a refused
//! transaction by the name the runtime gives it.

use subxt_rpcs::Error as RpcError;

/// What went wrong with one call.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The connection is broken or unusable: drop it, reconnect, maybe retry.
    Transport(String),
    /// The node answered with a JSON-RPC error.
    Refused { code: i32, message: String, data: Option<String> },
    /// The node's answer could not be used (subxt reported an error): retrying will not help.
    Other(String),
    /// We could not decode the answer: the runtime changed a type we read by hand.
    Decode(String),
}

/// The whole `source()` chain of an error, joined with ": ".
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// Classifies any error from subxt by the RPC error inside it, if there is one.
pub(crate) fn classify(err: &(dyn std::error::Error + 'static)) -> Failure {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(rpc) = e.downcast_ref::<RpcError>() {
            return match rpc {
                RpcError::Client(_) | RpcError::DisconnectedWillReconnect(_) => Failure::Transport(describe(err)),
                RpcError::User(user) => Failure::Refused {
                    code: user.code,
                    message: user.message.clone(),
                    data: user.data.as_ref().map(|d| d.get().trim_matches('"').to_owned()),
                },
                _ => Failure::Other(describe(err)),
            };
        }
        current = e.source();
    }
    Failure::Other(describe(err))
}

/// Names a transaction-pool rejection. Subtensor's signed extensions answer
/// `InvalidTransaction::Custom(code)` (JSON-RPC error 1010, data "Custom error: N"); the codes
/// are subtensor's `CustomTransactionError` (`common/src/transaction_error.rs`, which promises
/// not to renumber them).
pub(crate) fn name_pool_rejection(code: i32, message: &str, data: Option<&str>) -> String {
    let detail = data.unwrap_or("");
    let custom =
        detail.strip_prefix("Custom error: ").and_then(|n| n.trim().parse::<u8>().ok()).map(custom_transaction_error);
    match custom {
        Some(name) => format!("{message} (code {code}): subtensor custom error {name} ({detail})"),
        None if detail.is_empty() => format!("{message} (code {code})"),
        None => format!("{message} (code {code}): {detail}"),
    }
}

fn custom_transaction_error(code: u8) -> &'static str {
    match code {
        0 => "ColdkeyInSwapSchedule",
        1 => "StakeAmountTooLow",
        2 => "BalanceTooLow",
        3 => "SubnetNotExists",
        4 => "HotkeyAccountDoesntExist",
        5 => "NotEnoughStakeToWithdraw",
        6 => "RateLimitExceeded",
        7 => "InsufficientLiquidity",
        8 => "SlippageTooHigh",
        9 => "TransferDisallowed",
        10 => "HotKeyNotRegisteredInNetwork",
        11 => "InvalidIpAddress",
        12 => "ServingRateLimitExceeded",
        13 => "InvalidPort",
        14 => "ZeroMaxAmount",
        15 => "InvalidRevealRound",
        16 => "CommitNotFound",
        17 => "CommitBlockNotInRevealRange",
        18 => "InputLengthsUnequal",
        19 => "UidNotFound",
        20 => "EvmKeyAssociateRateLimitExceeded",
        21 => "ColdkeySwapDisputed",
        22 => "InvalidRealAccount",
        23 => "FailedShieldedTxParsing",
        24 => "InvalidShieldedTxPubKeyHash",
        25 => "NonAssociatedColdKey",
        26 => "DelegateTakeTooLow",
        27 => "DelegateTakeTooHigh",
        255 => "BadRequest",
        _ => "(unknown code)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_rejections_are_named() {
        let text = name_pool_rejection(1010, "Invalid Transaction", Some("Custom error: 6"));
        assert!(text.contains("RateLimitExceeded"), "{text}");
        let text = name_pool_rejection(1010, "Invalid Transaction", Some("Transaction is outdated"));
        assert!(text.ends_with("Transaction is outdated"), "{text}");
    }
}
