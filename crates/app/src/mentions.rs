//! Who a message mentions: `@username`, and `@channel` / `@all` / `@here` for everyone.

use std::collections::BTreeSet;

pub(crate) struct MentionedNames {
    /// Lower-case usernames written as `@name`.
    pub usernames: BTreeSet<String>,
    pub mentions_everyone: bool,
}

pub(crate) fn mentioned_names(message: &str) -> MentionedNames {
    let mut usernames = BTreeSet::new();
    let mut mentions_everyone = false;
    for (index, _) in message.match_indices('@') {
        let preceded_by_word = message[..index]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric());
        if preceded_by_word {
            continue; // an email address, not a mention
        }
        let name: String = message[index + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect::<String>()
            .trim_end_matches(['.', '-', '_'])
            .to_lowercase();
        match name.as_str() {
            "" => {}
            "channel" | "all" | "here" => mentions_everyone = true,
            _ => {
                usernames.insert(name);
            }
        }
    }
    MentionedNames {
        usernames,
        mentions_everyone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_usernames_and_channel_wide_mentions() {
        let found =
            mentioned_names("hi @Alice and @bob.smith, see @channel. mail me at x@example.com");
        assert_eq!(
            found.usernames.into_iter().collect::<Vec<_>>(),
            vec!["alice", "bob.smith"]
        );
        assert!(found.mentions_everyone);
        assert!(!mentioned_names("nothing here").mentions_everyone);
    }
}
