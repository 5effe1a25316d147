//! Small pieces of English grammar shared by every generator: articles, capitals, lists,
//! numbers in words, pronouns, and `Vars`, a tiny `{key}` template filler.
//!
//! Getting these right in one place is what keeps the corpus grammatical ("an owl", "Mara took
//! her umbrella", "grass, hay and clover") for a model that will learn every mistake.

/// Words that start with a vowel letter but a consonant sound, or the other way round.
const A_EXCEPTIONS: &[&str] = &["one", "once", "uni", "use", "usu", "eu", "ewe"];
const AN_EXCEPTIONS: &[&str] = &["hour", "honest", "honour"];

/// "a" or "an" for the phrase that follows.
pub fn article(phrase: &str) -> &'static str {
    let lower = phrase.to_ascii_lowercase();
    if AN_EXCEPTIONS.iter().any(|p| lower.starts_with(p)) {
        return "an";
    }
    if A_EXCEPTIONS.iter().any(|p| lower.starts_with(p)) {
        return "a";
    }
    let digits: String = lower.chars().take_while(char::is_ascii_digit).collect();
    if let Ok(n) = digits.parse::<u32>() {
        // Numbers read as words: eight, eleven, eighteen, eighty-..., eight hundred ...
        return if matches!(n, 8 | 11 | 18 | 80..=89 | 800..=899) { "an" } else { "a" };
    }
    match lower.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

/// The phrase with its indefinite article: `a("owl")` is "an owl".
pub fn a(phrase: &str) -> String {
    format!("{} {phrase}", article(phrase))
}

/// The first letter in upper case.
pub fn cap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.push(first.to_ascii_uppercase());
        out.push_str(chars.as_str());
    }
    out
}

/// "x", "x and y", "x, y and z" (no serial comma, the corpus's one style).
pub fn join_and<S: AsRef<str>>(items: &[S]) -> String {
    join_with(items, "and")
}

/// "x or y", "x, y or z".
pub fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    join_with(items, "or")
}

fn join_with<S: AsRef<str>>(items: &[S], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} {word} {}", init.join(", "), last.as_ref())
        }
    }
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] =
    ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/// A number in words, British style: 365 is "three hundred and sixty-five" (up to 9999).
pub fn num(n: u32) -> String {
    match n {
        0..=19 => ONES[n as usize].to_string(),
        20..=99 => {
            let tens = TENS[(n / 10) as usize];
            match n % 10 {
                0 => tens.to_string(),
                ones => format!("{tens}-{}", ONES[ones as usize]),
            }
        }
        100..=999 => {
            let hundreds = format!("{} hundred", ONES[(n / 100) as usize]);
            match n % 100 {
                0 => hundreds,
                rest => format!("{hundreds} and {}", num(rest)),
            }
        }
        _ => {
            let thousands = format!("{} thousand", num(n / 1000));
            match n % 1000 {
                0 => thousands,
                rest @ 1..=99 => format!("{thousands} and {}", num(rest)),
                rest => format!("{thousands} {}", num(rest)),
            }
        }
    }
}

const ORDINALS: [&str; 13] = [
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth",
];

/// "first" .. "twelfth".
pub fn ordinal(n: usize) -> &'static str {
    ORDINALS[n.min(12)]
}

/// "one apple", "three apples": a count in words with the noun in the right number.
pub fn count_of(n: u32, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("one {singular}")
    } else {
        format!("{} {plural}", num(n))
    }
}

/// Whitespace-separated words.
pub fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
}

impl Gender {
    pub fn subject(self) -> &'static str {
        match self {
            Gender::Female => "she",
            Gender::Male => "he",
        }
    }
    pub fn object(self) -> &'static str {
        match self {
            Gender::Female => "her",
            Gender::Male => "him",
        }
    }
    pub fn possessive(self) -> &'static str {
        match self {
            Gender::Female => "her",
            Gender::Male => "his",
        }
    }
    pub fn reflexive(self) -> &'static str {
        match self {
            Gender::Female => "herself",
            Gender::Male => "himself",
        }
    }
}

/// A named character.
#[derive(Clone, Debug)]
pub struct Person {
    pub name: String,
    pub gender: Gender,
}

/// Values for `{key}` placeholders. Templates are written with the pronoun keys `{he}`, `{him}`,
/// `{his}`, `{himself}` for the first character (filled as she/her/her/herself for a woman) and
/// `{he2}` ... for the second, so one template serves both.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    pub fn new() -> Self {
        Vars::default()
    }

    /// Sets (or replaces) `key`.
    pub fn set(&mut self, key: &'static str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((key, value)),
        }
        self
    }

    /// The first character: `{A}` and the pronoun keys.
    pub fn first(&mut self, p: &Person) -> &mut Self {
        self.set("A", p.name.clone())
            .set("he", p.gender.subject())
            .set("him", p.gender.object())
            .set("his", p.gender.possessive())
            .set("himself", p.gender.reflexive())
    }

    /// The second character: `{B}`, `{he2}`, `{him2}`, `{his2}`.
    pub fn second(&mut self, p: &Person) -> &mut Self {
        self.set("B", p.name.clone())
            .set("he2", p.gender.subject())
            .set("him2", p.gender.object())
            .set("his2", p.gender.possessive())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// The template with every `{key}` replaced. An unknown key is left as written, braces and
    /// all, which the corpus tests catch (no generated text contains a brace).
    pub fn fill(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let key = &after[..close];
                    match self.get(key) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push('{');
                            out.push_str(key);
                            out.push('}');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `fill`, then a capital first letter: a sentence.
    pub fn sentence(&self, template: &str) -> String {
        cap(&self.fill(template))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles() {
        assert_eq!(a("owl"), "an owl");
        assert_eq!(a("cow"), "a cow");
        assert_eq!(a("umbrella"), "an umbrella");
        assert_eq!(a("uniform"), "a uniform");
        assert_eq!(a("hour"), "an hour");
        assert_eq!(a("elephant"), "an elephant");
        assert_eq!(a("one-eyed cat"), "a one-eyed cat");
        assert_eq!(a("18"), "an 18");
        assert_eq!(a("11"), "an 11");
        assert_eq!(a("12"), "a 12");
        assert_eq!(a("84"), "an 84");
    }

    #[test]
    fn numbers_in_words() {
        assert_eq!(num(0), "zero");
        assert_eq!(num(13), "thirteen");
        assert_eq!(num(40), "forty");
        assert_eq!(num(42), "forty-two");
        assert_eq!(num(100), "one hundred");
        assert_eq!(num(365), "three hundred and sixty-five");
        assert_eq!(num(1005), "one thousand and five");
        assert_eq!(num(2500), "two thousand five hundred");
        assert_eq!(count_of(1, "apple", "apples"), "one apple");
        assert_eq!(count_of(3, "egg", "eggs"), "three eggs");
    }

    #[test]
    fn lists_and_capitals() {
        assert_eq!(join_and(&["grass"]), "grass");
        assert_eq!(join_and(&["grass", "hay"]), "grass and hay");
        assert_eq!(join_and(&["grass", "hay", "clover"]), "grass, hay and clover");
        assert_eq!(join_or(&["a", "b", "c"]), "a, b or c");
        assert_eq!(cap("the sky is blue."), "The sky is blue.");
        assert_eq!(cap(""), "");
    }

    #[test]
    fn templates_fill_pronouns() {
        let mara = Person { name: "Mara".into(), gender: Gender::Female };
        let tom = Person { name: "Tom".into(), gender: Gender::Male };
        let mut v = Vars::new();
        v.first(&mara).second(&tom);
        assert_eq!(
            v.sentence("{he} gave {his} umbrella to {B}, and {he2} thanked {him}."),
            "She gave her umbrella to Tom, and he thanked her."
        );
        assert_eq!(v.fill("{missing} {A"), "{missing} {A");
    }
}
