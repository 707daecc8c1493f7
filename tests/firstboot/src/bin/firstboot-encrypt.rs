//! `firstboot-encrypt RECIPIENT`: the value on stdin, encrypted to the VM's published
//! recipient by the Worker's own code (`claw_free::crypto::age_encrypt`), armored on
//! stdout, as the Worker writes it into instance metadata. For the NixOS VM test,
//! which delivers the first secret from its simulator node.

use std::io::Read;

fn main() {
    let Some(recipient) = std::env::args().nth(1) else {
        eprintln!("usage: firstboot-encrypt RECIPIENT < value");
        std::process::exit(2);
    };
    let mut value = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut value) {
        eprintln!("firstboot-encrypt: cannot read the value: {e}");
        std::process::exit(1);
    }
    match claw_free::crypto::age_encrypt(&claw_free_firstboot::OsRandom, &recipient, &value) {
        Ok(armored) => print!("{armored}"),
        Err(e) => {
            eprintln!("firstboot-encrypt: {e}");
            std::process::exit(1);
        }
    }
}
