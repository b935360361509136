//! The validator's hotkey, loaded from the bittensor wallet layout
//! (`<wallet.path>/<wallet.name>/hotkeys/<wallet.hotkey>`), and the sr25519 signer made from it.
//! Only the hotkey is ever read; secret material never reaches a log or a `Debug` string.

use crate::account::AccountId;
use schnorrkel::{ExpansionMode, MiniSecretKey, SecretKey};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use subxt::config::SubstrateConfig;
use subxt::utils::{AccountId32, MultiSignature};
use zeroize::Zeroizing;

/// The substrate signing context for sr25519 extrinsic signatures.
const SIGNING_CONTEXT: &[u8] = b"substrate";

/// Why a hotkey could not be loaded. Messages name the file and the problem, never a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    #[error("cannot read keyfile {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "keyfile {path} is encrypted ({format}); the validator reads only unencrypted hotkeys. \
         Hotkeys are normally unencrypted: regenerate it without a password (btcli wallet regen-hotkey)"
    )]
    Encrypted { path: PathBuf, format: &'static str },
    #[error("keyfile {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "keyfile {path} derives {derived}, but its ss58Address says {recorded}: the secret does not belong \
         to this address"
    )]
    AddressMismatch { path: PathBuf, derived: String, recorded: String },
}

/// The hotkey: an sr25519 key pair. `Debug` shows only the address.
pub struct Hotkey {
    pair: schnorrkel::Keypair,
    account: AccountId,
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hotkey({}, secret redacted)", self.account)
    }
}

/// The fields of a bittensor keyfile that matter here (btwallet `keyfile.rs`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyfileJson {
    secret_phrase: Option<Zeroizing<String>>,
    secret_seed: Option<Zeroizing<String>>,
    private_key: Option<Zeroizing<String>>,
    ss58_address: Option<String>,
    public_key: Option<String>,
    crypto_type: Option<u8>,
}

/// The path of a hotkey in the wallet layout; `~` at the start of `wallet_path` means `$HOME`.
pub fn hotkey_path(wallet_path: &Path, wallet_name: &str, hotkey_name: &str) -> PathBuf {
    expand_home(wallet_path).join(wallet_name).join("hotkeys").join(hotkey_name)
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// A warning when the keyfile can be read by its group or by others (it holds a secret).
pub fn keyfile_permission_problem(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "keyfile {} is readable by group or others (mode {:o}); it holds a secret: chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

impl Hotkey {
    /// Loads `<wallet_path>/<wallet_name>/hotkeys/<hotkey_name>`.
    pub fn load(wallet_path: &Path, wallet_name: &str, hotkey_name: &str) -> Result<Hotkey, WalletError> {
        Hotkey::from_keyfile(&hotkey_path(wallet_path, wallet_name, hotkey_name))
    }

    /// Loads one keyfile. Priority as in btwallet: `secretPhrase`, then `secretSeed`, then
    /// `privateKey`; the derived address must equal the file's `ss58Address`.
    pub fn from_keyfile(path: &Path) -> Result<Hotkey, WalletError> {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|e| WalletError::Unreadable { path: path.into(), reason: e.to_string() })?,
        );
        if let Some(problem) = keyfile_permission_problem(path) {
            tracing::warn!("{problem}");
        }
        let malformed = |reason: String| WalletError::Malformed { path: path.into(), reason };
        for (prefix, format) in [
            (&b"$NACL"[..], "NaCl secretbox, `$NACL`"),
            (&b"$ANSIBLE_VAULT"[..], "ansible vault, `$ANSIBLE_VAULT`"),
            (&b"gAAAAA"[..], "legacy Fernet, `gAAAAA`"),
        ] {
            if bytes.starts_with(prefix) {
                return Err(WalletError::Encrypted { path: path.into(), format });
            }
        }
        // serde_json's messages give positions only, never the text around them.
        let json: KeyfileJson = serde_json::from_slice(&bytes)
            .map_err(|e| malformed(format!("not a bittensor keyfile JSON object ({e})")))?;
        if let Some(kind) = json.crypto_type.filter(|&t| t != 1) {
            return Err(malformed(format!("cryptoType {kind} is not sr25519 (1); hotkeys are sr25519")));
        }
        let (pair, source) = if let Some(phrase) = &json.secret_phrase {
            (from_phrase(phrase).map_err(&malformed)?, "secretPhrase")
        } else if let Some(seed) = &json.secret_seed {
            (from_seed(seed).map_err(&malformed)?, "secretSeed")
        } else if let Some(private) = &json.private_key {
            (from_private_key(private).map_err(&malformed)?, "privateKey")
        } else {
            return Err(malformed(
                "it holds no secret (secretPhrase, secretSeed or privateKey): only a public key".into(),
            ));
        };
        let account = AccountId(pair.public.to_bytes());
        match (&json.ss58_address, &json.public_key) {
            (Some(recorded), _) if *recorded != account.to_ss58() => {
                return Err(WalletError::AddressMismatch {
                    path: path.into(),
                    derived: format!("{account} (from {source})"),
                    recorded: recorded.clone(),
                });
            }
            (Some(_), _) => {}
            (None, Some(public)) if public.trim_start_matches("0x") != hex::encode(account.0) => {
                return Err(WalletError::AddressMismatch {
                    path: path.into(),
                    derived: format!("{account} (from {source})"),
                    recorded: format!("publicKey {public}"),
                });
            }
            (None, Some(_)) => {}
            (None, None) => {
                return Err(malformed("it has no ss58Address (nor publicKey) to check the secret against".into()));
            }
        }
        tracing::debug!("loaded hotkey {account} from {} ({source})", path.display());
        Ok(Hotkey { pair, account })
    }

    /// A hotkey from a 32-byte mini secret (tests and local tools).
    pub fn from_seed_bytes(seed: [u8; 32]) -> Hotkey {
        let pair = MiniSecretKey::from_bytes(&seed)
            .expect("32 bytes is a valid mini secret")
            .expand_to_keypair(ExpansionMode::Ed25519);
        let account = AccountId(pair.public.to_bytes());
        Hotkey { pair, account }
    }

    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Signs `message` in the substrate signing context (what an extrinsic signature is).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign_simple(SIGNING_CONTEXT, message).to_bytes()
    }
}

/// Verifies an sr25519 signature made in the substrate context.
pub fn verify(public: &AccountId, message: &[u8], signature: &[u8; 64]) -> bool {
    let (Ok(public), Ok(signature)) =
        (schnorrkel::PublicKey::from_bytes(&public.0), schnorrkel::Signature::from_bytes(signature))
    else {
        return false;
    };
    public.verify_simple(SIGNING_CONTEXT, message, &signature).is_ok()
}

fn from_phrase(phrase: &str) -> Result<schnorrkel::Keypair, String> {
    let mnemonic = bip39::Mnemonic::parse_normalized(phrase.trim())
        .map_err(|e| format!("secretPhrase is not a valid BIP-39 mnemonic ({e})"))?;
    let entropy = Zeroizing::new(mnemonic.to_entropy());
    let mini = substrate_bip39::mini_secret_from_entropy(&entropy, "")
        .map_err(|e| format!("secretPhrase cannot derive a key ({e:?})"))?;
    Ok(mini.expand_to_keypair(ExpansionMode::Ed25519))
}

fn hex_secret(text: &str, field: &str, len: usize) -> Result<Zeroizing<Vec<u8>>, String> {
    let digits = text.strip_prefix("0x").ok_or_else(|| format!("{field} does not start with 0x"))?;
    let bytes = Zeroizing::new(hex::decode(digits).map_err(|_| format!("{field} is not hex"))?);
    if bytes.len() != len {
        return Err(format!("{field} holds {} bytes, not {len}", bytes.len()));
    }
    Ok(bytes)
}

fn from_seed(text: &str) -> Result<schnorrkel::Keypair, String> {
    let bytes = hex_secret(text, "secretSeed", 32)?;
    let mini = MiniSecretKey::from_bytes(&bytes).map_err(|e| format!("secretSeed is not a mini secret ({e})"))?;
    Ok(mini.expand_to_keypair(ExpansionMode::Ed25519))
}

/// `privateKey` is schnorrkel's 64-byte secret (key scalar ‖ nonce), what sp-core's
/// `Pair::to_raw_vec` writes and `from_seed_slice` reads back.
fn from_private_key(text: &str) -> Result<schnorrkel::Keypair, String> {
    let bytes = hex_secret(text, "privateKey", 64)?;
    let secret = SecretKey::from_bytes(&bytes).map_err(|e| format!("privateKey is not an sr25519 secret ({e})"))?;
    Ok(secret.to_keypair())
}

impl subxt::tx::Signer<SubstrateConfig> for Hotkey {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.account.0)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(Hotkey::sign(self, signer_payload))
    }
}
