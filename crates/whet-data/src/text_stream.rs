//! Text of a generation as it streams: the caller decodes all generated tokens after each new
//! one and hands the whole text to [`TextStream::push`], which returns only what is safe to show
//! — text that cannot still become a stop string, and no half-decoded UTF-8 character — and says
//! when a stop string appeared. Stop strings are cut from the text, as OpenAI's `stop` does.
//! `whet generate` and `whet serve` share it.

/// Incremental text for streaming: holds back text that may still turn into a stop string or
/// that ends in an incomplete UTF-8 character, and cuts the text at the first stop string.
pub struct TextStream {
    stops: Vec<String>,
    printed: usize,
}

impl TextStream {
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            printed: 0,
        }
    }

    /// Given the whole text so far, returns the new text safe to show and whether a stop string
    /// was found.
    pub fn push(&mut self, text: &str) -> (String, bool) {
        if let Some(cut) = self.first_stop(text) {
            let fresh = text.get(self.printed..cut).unwrap_or_default().to_string();
            self.printed = self.printed.max(cut);
            return (fresh, true);
        }
        let mut safe = text.len();
        // A partially decoded character shows as U+FFFD until its last byte arrives.
        if text.ends_with('\u{FFFD}') {
            safe -= '\u{FFFD}'.len_utf8();
        }
        // Hold back the longest tail that is the start of some stop string.
        let hold = self
            .stops
            .iter()
            .filter_map(|stop| {
                (1..stop.len())
                    .rev()
                    .find(|&k| stop.is_char_boundary(k) && text[..safe].ends_with(&stop[..k]))
            })
            .max()
            .unwrap_or(0);
        safe -= hold;
        if safe <= self.printed {
            return (String::new(), false);
        }
        let fresh = text[self.printed..safe].to_string();
        self.printed = safe;
        (fresh, false)
    }

    fn first_stop(&self, text: &str) -> Option<usize> {
        self.stops.iter().filter_map(|s| text.find(s.as_str())).min()
    }

    /// The final text: cut at the first stop string.
    pub fn finish(&self, text: &str) -> String {
        match self.first_stop(text) {
            Some(cut) => text[..cut].to_string(),
            None => text.to_string(),
        }
    }

    /// What of `text` has not been shown yet.
    pub fn unprinted<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.printed.min(text.len())..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_holds_back_a_possible_stop_string_and_cuts_at_it() {
        let mut s = TextStream::new(&["</s>".to_string()]);
        assert_eq!(s.push("Hello <"), ("Hello ".to_string(), false));
        assert_eq!(s.push("Hello </"), (String::new(), false));
        assert_eq!(s.push("Hello </x"), ("</x".to_string(), false));
        assert_eq!(s.push("Hello </x and</s> more"), (" and".to_string(), true));
        assert_eq!(s.finish("Hello </x and</s> more"), "Hello </x and");
    }

    #[test]
    fn stream_waits_for_the_rest_of_a_character() {
        let mut s = TextStream::new(&[]);
        assert_eq!(s.push("caf\u{FFFD}"), ("caf".to_string(), false));
        assert_eq!(s.push("café"), ("é".to_string(), false));
    }
}
