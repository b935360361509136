//! Hotkeys written by PyPI bittensor-wallet (fixtures/wallets) load to the addresses it gave
//! them; encrypted, broken and mismatched keyfiles are refused with a reason.

use chain::wallet::{hotkey_path, keyfile_permission_problem, Hotkey, WalletError};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn wallets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wallets")
}

fn expected(name: &str) -> String {
    let text = std::fs::read_to_string(wallets().join("wallets.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v[name]["ss58"].as_str().unwrap().to_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn phrase_seed_and_private_key_forms_give_bittensor_wallets_addresses() {
    for name in ["phrase", "seed", "private"] {
        let hotkey = Hotkey::load(&wallets(), "fixture", name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hotkey.account().to_string(), expected(name), "{name}");
    }
}

#[test]
fn encrypted_keyfile_is_refused_with_its_format() {
    let err = Hotkey::load(&wallets(), "fixture", "encrypted").unwrap_err();
    assert!(matches!(err, WalletError::Encrypted { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("encrypted") && text.contains("$NACL"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    for (content, format) in [("$ANSIBLE_VAULT;1.1;AES256\n6162", "ansible"), ("gAAAAABkaXJ0eQ==", "Fernet")] {
        let err = Hotkey::from_keyfile(&write(dir.path(), "k", content)).unwrap_err();
        assert!(err.to_string().contains(format), "{err}");
    }
}

#[test]
fn bittensor_wallets_broken_seed_file_is_refused_naming_the_field() {
    let err = Hotkey::load(&wallets(), "fixture", "seed_as_btwallet_writes_it").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, WalletError::Malformed { .. }), "{err:?}");
    assert!(text.contains("secretSeed"), "{text}");
}

#[test]
fn malformed_keyfiles_say_what_is_wrong_without_echoing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let phrase: Value =
        serde_json::from_str(&std::fs::read_to_string(wallets().join("fixture/hotkeys/phrase")).unwrap()).unwrap();
    let secret_phrase = phrase["secretPhrase"].as_str().unwrap();
    let cases = [
        ("not json at all", "not a bittensor keyfile JSON"),
        (r#"{"ss58Address": "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"}"#, "holds no secret"),
        (r#"{"secretSeed": "0x1234", "ss58Address": "x"}"#, "secretSeed holds 2 bytes, not 32"),
        (r#"{"secretSeed": "1234", "ss58Address": "x"}"#, "secretSeed does not start with 0x"),
        (r#"{"privateKey": "0xzz", "ss58Address": "x"}"#, "privateKey is not hex"),
        (r#"{"secretPhrase": "bottom drive obey", "ss58Address": "x"}"#, "not a valid BIP-39 mnemonic"),
        (
            r#"{"secretPhrase": "bottom drive obey lake curtain smoke basket hold race lonely fit walk"}"#,
            "no ss58Address",
        ),
        (
            r#"{"secretPhrase": "bottom drive obey lake curtain smoke basket hold race lonely fit walk", "cryptoType": 0, "ss58Address": "x"}"#,
            "not sr25519",
        ),
    ];
    for (content, reason) in cases {
        let err = Hotkey::from_keyfile(&write(dir.path(), "k", content)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(reason), "{content}: {text}");
        assert!(!text.contains("obey lake"), "a secret leaked into the message: {text}");
    }
    // A valid secret with someone else's address.
    let mut wrong = phrase.clone();
    wrong["ss58Address"] = Value::from("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    let err = Hotkey::from_keyfile(&write(dir.path(), "k", &wrong.to_string())).unwrap_err();
    assert!(matches!(err, WalletError::AddressMismatch { .. }), "{err:?}");
    assert!(!err.to_string().contains(secret_phrase));
    let missing = Hotkey::load(dir.path(), "nowallet", "nohotkey").unwrap_err();
    assert!(matches!(missing, WalletError::Unreadable { .. }), "{missing:?}");
    assert!(missing.to_string().contains("nowallet/hotkeys/nohotkey"), "{missing}");
}

#[test]
fn debug_output_redacts_the_secret() {
    let hotkey = Hotkey::load(&wallets(), "fixture", "phrase").unwrap();
    let debug = format!("{hotkey:?}");
    assert!(debug.contains(&expected("phrase")) && debug.contains("redacted"), "{debug}");
    let phrase: Value =
        serde_json::from_str(&std::fs::read_to_string(wallets().join("fixture/hotkeys/phrase")).unwrap()).unwrap();
    for field in ["secretSeed", "privateKey"] {
        let secret = phrase[field].as_str().unwrap().trim_start_matches("0x");
        assert!(!debug.contains(&secret[..16]), "{field} leaked");
    }
}

#[cfg(unix)]
#[test]
fn group_or_world_readable_keyfile_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hotkey");
    std::fs::copy(wallets().join("fixture/hotkeys/phrase"), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(keyfile_permission_problem(&path), None);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warning = keyfile_permission_problem(&path).unwrap();
    assert!(warning.contains("644") && warning.contains("chmod 600"), "{warning}");
    // Still loads: the warning is advice, not a refusal.
    assert_eq!(Hotkey::from_keyfile(&path).unwrap().account().to_string(), expected("phrase"));
}

#[test]
fn wallet_layout_and_home_expansion() {
    let path = hotkey_path(Path::new("/w"), "name", "hk");
    assert_eq!(path, PathBuf::from("/w/name/hotkeys/hk"));
    if let Some(home) = std::env::var_os("HOME") {
        assert_eq!(
            hotkey_path(Path::new("~/.bittensor/wallets"), "a", "b"),
            PathBuf::from(home).join(".bittensor/wallets/a/hotkeys/b")
        );
    }
}
