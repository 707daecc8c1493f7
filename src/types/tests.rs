//! What each type accepts and refuses.

use super::*;

fn slug(input: &str) -> Result<String, String> {
    BotName::parse(input)
        .map(|n| n.slug().to_string())
        .map_err(|e| e.message().to_string())
}

#[test]
fn bot_names_become_gce_names() {
    assert_eq!(slug("My Bot").unwrap(), "my-bot");
    assert_eq!(slug("  Café Crème  ").unwrap(), "cafe-creme");
    assert_eq!(slug("🤖 Robo 🤖 Pal").unwrap(), "robo-pal");
    assert_eq!(slug("42 is the answer").unwrap(), "is-the-answer");
    assert_eq!(slug("--bot--").unwrap(), "bot");
    assert_eq!(slug("abc").unwrap(), "abc");
    assert_eq!(slug("R2D2 unit").unwrap(), "r2d2-unit");
    assert_eq!(slug("a_b.c").unwrap(), "a-b-c");
}

#[test]
fn names_that_cannot_give_three_characters_are_refused_with_a_reason() {
    for bad in [
        "",
        "   ",
        "ab",
        "🤖🤖🤖",
        "!!!",
        "123",
        "12ab",
        "日本語のボット",
        "a-",
    ] {
        let err = slug(bad).unwrap_err();
        assert!(!err.is_empty(), "{bad:?}");
    }
    assert!(slug("ab").unwrap_err().contains("at least 3"));
    assert!(slug("line\nbreak").unwrap_err().contains("one line"));
    assert!(slug(&"x".repeat(65)).unwrap_err().contains("at most 64"));
}

#[test]
fn long_names_are_cut_to_forty_without_a_trailing_dash() {
    let forty_one = format!("{}-{}", "a".repeat(39), "bcd");
    let s = slug(&forty_one).unwrap();
    assert_eq!(s, "a".repeat(39));
    assert_eq!(slug(&"b".repeat(64)).unwrap().len(), 40);
}

#[test]
fn vm_names_always_match_the_gce_rule() {
    let inputs = [
        "My Bot",
        "x".repeat(64).as_str(),
        "Zoë's 🤖 helper #1",
        "a1-b",
        "Ünïcödé bot",
        "bot 2026",
    ]
    .map(String::from);
    for input in inputs {
        let name = BotName::parse(&input).unwrap();
        for suffix in [[0, 0, 0], [0xff, 0xab, 0x01]] {
            let vm = name.vm_name(suffix);
            assert!(is_valid_resource_name(vm.as_str()), "{input:?} -> {vm}");
            assert!(vm.as_str().len() <= 63);
        }
    }
    assert_eq!(
        BotName::parse("My Bot")
            .unwrap()
            .vm_name([0x1a, 0x2b, 0x3c])
            .as_str(),
        "my-bot-1a2b3c"
    );
}

#[test]
fn project_ids() {
    assert!(ProjectId::parse("claw-demo").is_ok());
    assert!(ProjectId::parse("example.com:claw-demo").is_ok());
    for bad in [
        "short",
        "Claw-demo",
        "1claw-demo",
        "claw-demo-",
        "claw demo",
        "x".repeat(31).as_str(),
        "a:b:claw-demo",
        "../../etc",
    ] {
        assert!(ProjectId::parse(bad).is_err(), "{bad}");
    }
    assert!(ProjectId::parse_new("example.com:claw-demo").is_err());
}

#[test]
fn regions_and_zones() {
    assert_eq!(Region::parse("us-east1").unwrap(), Region::UsEast1);
    assert!(Region::parse("europe-west1").is_err());
    let first = Region::UsCentral1.first_zone();
    assert_eq!(first.as_str(), "us-central1-a");
    let mut zone = first;
    let mut seen = 1;
    while let Some(next) = Region::UsCentral1.next_zone(&zone) {
        zone = next;
        seen += 1;
    }
    assert_eq!(seen, 4);
    assert!(Zone::parse("us-east1-b").is_ok());
    assert!(Zone::parse("us-east1-z").is_err());
}

#[test]
fn telegram_tokens() {
    let token = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";
    assert!(TelegramToken::parse(token).is_ok());
    assert_eq!(
        format!("{:?}", TelegramToken::parse(token).unwrap()),
        "TelegramToken(..)"
    );
    for bad in [
        "",
        "123456789",
        "abc:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
        "123456789:short",
        "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0\"}",
    ] {
        assert!(TelegramToken::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn choices_default_and_round_trip() {
    let c = Choices::parse(Some("claude"), None, None, Some("us-west1")).unwrap();
    assert_eq!(
        c.to_query(),
        "provider=claude&channel=telegram&cloud=gcp&region=us-west1"
    );
    assert!(Choices::parse(Some("gpt"), None, None, None).is_err());
    assert!(Choices::parse(None, Some("discord"), None, None).is_err());
    assert!(Choices::parse(None, None, Some("aws"), None).is_err());
}
