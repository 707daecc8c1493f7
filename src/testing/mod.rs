//! Test support, native only: the in-memory platform ([`platform`]), a fake Google
//! answering in Google's shapes ([`fake_google`]), and the rest of what linking a
//! repository meets, GitHub, IAM and Storage ([`fake_link`]), the application with a person
//! signed in ([`app::TestApp`]), and the fixtures tests share.

pub mod app;
pub mod fake_google;
pub mod fake_link;
pub mod google_identity;
mod platform;

pub use crate::config::tests::development_config;
pub use app::TestApp;
pub use platform::*;

/// The key a development Worker seals with (`SESSION_KEY` in `.dev.vars`).
pub fn development_key() -> crate::crypto::SealingKey {
    crate::crypto::SealingKey::from_base64(crate::config::DEVELOPMENT_SESSION_KEY).unwrap()
}

/// The public half of `tests/fixtures/vm_host_ed25519_key`: a VM's age recipient.
pub const VM_RECIPIENT: &str = include_str!("../../tests/fixtures/vm_host_ed25519_key.pub");
/// The private half: what the VM decrypts with.
pub const VM_IDENTITY: &str = include_str!("../../tests/fixtures/vm_host_ed25519_key");

/// What the VM reads from `armored`: decrypted by the full `age` crate with
/// [`VM_IDENTITY`], as the VM's agent does.
pub fn decrypt_on_vm(armored: &str) -> Vec<u8> {
    use std::io::Read;
    let identity = age::ssh::Identity::from_buffer(VM_IDENTITY.as_bytes(), None).unwrap();
    let decryptor =
        age::Decryptor::new(age::armor::ArmoredReader::new(armored.as_bytes())).unwrap();
    let mut out = Vec::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The `(key, value)` pairs of a Compute metadata `items` array, as Google's JSON holds them.
pub fn metadata_items<T: FromIterator<(String, String)>>(items: &serde_json::Value) -> T {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().into(),
                i["value"].as_str().unwrap().into(),
            )
        })
        .collect()
}
