//! The fictional product behind the quickstart demo: the Corvid WX-4 home weather station
//! (invented here; no such product exists), described by 45 facts and 25 glossary terms.
//!
//! Facts are grouped by type (error codes, indicator lights, procedures, specifications,
//! defaults, accessories, glossary terms). A type has seven question templates with one slot,
//! `{x}` (the code, the light, the task, ...) or `{a_x}` (the term with its article), and every
//! fact has ONE canonical answer: a single sentence of 6 to 16 words, identical for all seven
//! questions, which is the exact-match target of the demo's evaluation. The answers are full of
//! invented names and numbers, so a model that never saw this data cannot produce them.

#[cfg(test)]
const PRODUCT_NAMES: &[&str] = &["Corvid", "WX-4", "WX4"];

/// One fact: the slot value, its article for `{a_x}` ("" for none), and the canonical answer.
#[derive(Clone, Copy, Debug)]
pub struct Fact {
    pub key: &'static str,
    pub article: &'static str,
    pub answer: &'static str,
}

const fn f(key: &'static str, answer: &'static str) -> Fact {
    Fact { key, article: "", answer }
}

const fn g(article: &'static str, key: &'static str, answer: &'static str) -> Fact {
    Fact { key, article, answer }
}

#[derive(Clone, Copy, Debug)]
pub struct FactType {
    pub name: &'static str,
    pub templates: &'static [&'static str],
    pub facts: &'static [Fact],
}

impl Fact {
    /// The slot with its article: "a drift window", "perch mode".
    pub fn with_article(&self) -> String {
        if self.article.is_empty() {
            self.key.to_string()
        } else {
            format!("{} {}", self.article, self.key)
        }
    }

    /// The question from `template` about this fact.
    pub fn question(&self, template: &str) -> String {
        template.replace("{a_x}", &self.with_article()).replace("{x}", self.key)
    }
}

pub const TYPES: &[FactType] = &[
    FactType {
        name: "error code",
        templates: &[
            "What does error {x} mean on the Corvid WX-4?",
            "My WX-4 is showing {x}. What does that mean?",
            "What is error code {x} on the Corvid WX-4?",
            "The console on my Corvid WX-4 says {x}. What is wrong?",
            "Can you explain the {x} error on the WX-4?",
            "Why does my Corvid WX-4 display {x}?",
            "What is the meaning of {x} on a Corvid WX-4?",
        ],
        facts: &[
            f("E01", "E01 means the outdoor sensor has not reported for ten minutes."),
            f("E02", "E02 means the rain funnel is blocked and needs clearing."),
            f("E03", "E03 means the wind vane is stuck or frozen in place."),
            f("E04", "E04 means the console battery is below fifteen percent."),
            f("E05", "E05 means the barometer failed its self-test at startup."),
            f("E06", "E06 means the humidity probe reads outside its calibrated range."),
            f("E07", "E07 means the console clock was lost after a power cut."),
            f("E08", "E08 means the sensor and console firmware versions do not match."),
        ],
    },
    FactType {
        name: "indicator light",
        templates: &[
            "What does a {x} mean on the Corvid WX-4?",
            "My WX-4 has a {x}. What does it mean?",
            "Why is there a {x} on my Corvid WX-4?",
            "What is the {x} on the WX-4 telling me?",
            "What does it mean when the Corvid WX-4 shows a {x}?",
            "Explain the {x} on the Corvid WX-4.",
            "What is the meaning of a {x} on my WX-4?",
        ],
        facts: &[
            f("solid green light", "A solid green light means the sensor link is healthy."),
            f(
                "blinking green light",
                "A blinking green light means the console is pairing with a sensor.",
            ),
            f(
                "solid amber light",
                "A solid amber light means the outdoor sensor batteries are running low.",
            ),
            f(
                "blinking amber light",
                "A blinking amber light means a firmware update is being installed.",
            ),
            f("solid red light", "A solid red light means a squall flag has been raised."),
            f(
                "blinking blue light",
                "A blinking blue light means perch mode is on and logging is paused.",
            ),
        ],
    },
    FactType {
        name: "procedure",
        templates: &[
            "How do I {x} on the Corvid WX-4?",
            "How can I {x} on my WX-4?",
            "What is the way to {x} on the Corvid WX-4?",
            "Tell me how to {x} on the WX-4.",
            "What are the steps to {x} on a Corvid WX-4?",
            "I want to {x} on my Corvid WX-4. How do I do that?",
            "Is there a way to {x} on the WX-4?",
        ],
        facts: &[
            f(
                "reset the console to factory settings",
                "Hold MODE and ALT together for twelve seconds until the screen flashes.",
            ),
            f(
                "pair a new outdoor sensor",
                "Press LINK on the console, then press the sensor's pin button twice.",
            ),
            f(
                "switch between Celsius and Fahrenheit",
                "Press UNIT once while the temperature reading is on screen.",
            ),
            f(
                "keep the backlight lit all the time",
                "Hold LIGHT for five seconds until the console beeps twice.",
            ),
            f(
                "clear the rain total",
                "Hold RAIN and MINUS together for three seconds to clear the total.",
            ),
            f(
                "calibrate the barometer",
                "Open setup with MODE, choose BARO, then enter your local sea-level pressure.",
            ),
            f(
                "update the firmware",
                "Insert a microSD card with the update file, then hold MODE while powering on.",
            ),
            f(
                "set the time manually",
                "Hold CLOCK for three seconds, then adjust the time with PLUS and MINUS.",
            ),
            f(
                "silence the frost alarm",
                "Press any button once to silence the frost alarm for one hour.",
            ),
        ],
    },
    FactType {
        name: "specification",
        templates: &[
            "What is the {x} of the Corvid WX-4?",
            "Tell me the {x} of the WX-4.",
            "Can you tell me the {x} of my Corvid WX-4?",
            "I need the {x} of the Corvid WX-4.",
            "Do you know the {x} of the WX-4?",
            "What is the Corvid WX-4's {x}?",
            "Please give me the {x} of the Corvid WX-4.",
        ],
        facts: &[
            f(
                "wireless range",
                "The outdoor sensor reaches the console from up to 140 metres away.",
            ),
            f(
                "sensor battery life",
                "The outdoor sensor runs for about fourteen months on two AA cells.",
            ),
            f(
                "screen size",
                "The console has a seven-inch monochrome screen with an amber backlight.",
            ),
            f(
                "warranty period",
                "The Corvid WX-4 carries a three-year warranty covering sensor and console.",
            ),
            f(
                "maximum wind speed",
                "The WX-4 anemometer measures wind speeds up to 210 kilometres per hour.",
            ),
            f(
                "rain gauge resolution",
                "The rain gauge counts rainfall in steps of 0.3 millimetres.",
            ),
            f(
                "temperature accuracy",
                "Outdoor temperature is accurate to within half a degree Celsius.",
            ),
            f(
                "operating temperature range",
                "The outdoor sensor works from minus forty to plus sixty degrees Celsius.",
            ),
            f(
                "storage capacity",
                "The console stores nine months of readings at the default logging interval.",
            ),
            f(
                "sensor head weight",
                "The sensor head weighs 1.2 kilograms without the Rookery Mast.",
            ),
        ],
    },
    FactType {
        name: "default setting",
        templates: &[
            "What is the default {x} on the Corvid WX-4?",
            "What {x} does the WX-4 use out of the box?",
            "Which {x} is set on the Corvid WX-4 by default?",
            "What is the factory {x} of the WX-4?",
            "Tell me the default {x} of the Corvid WX-4.",
            "After a reset, what {x} does my WX-4 use?",
            "What {x} does a new Corvid WX-4 start with?",
        ],
        facts: &[
            f(
                "update interval",
                "By default the outdoor sensor sends a reading every forty-eight seconds.",
            ),
            f(
                "temperature unit",
                "The WX-4 shows temperatures in Celsius until you change the unit.",
            ),
            f("pressure unit", "Pressure is shown in hectopascals by default on the WX-4."),
            f(
                "frost alarm threshold",
                "The frost alarm sounds at plus two degrees Celsius by default.",
            ),
            f("screen timeout", "The backlight switches off after twenty seconds by default."),
            f(
                "logging interval",
                "The console logs a full record every fifteen minutes by default.",
            ),
        ],
    },
    FactType {
        name: "accessory",
        templates: &[
            "What is the {x} for the Corvid WX-4?",
            "What does the {x} do on a WX-4?",
            "What is the {x} used for with the Corvid WX-4?",
            "Tell me about the {x} accessory for the WX-4.",
            "Why would I buy the {x} for my Corvid WX-4?",
            "Can you explain what the WX-4 {x} is?",
            "What is the purpose of the Corvid WX-4 {x}?",
        ],
        facts: &[
            f("Rookery Mast", "The Rookery Mast is a three-metre pole that lifts the sensor head."),
            f(
                "Pinion Shield",
                "The Pinion Shield is a louvred cover that keeps sun off the thermometer.",
            ),
            f(
                "Tallow Heater",
                "The Tallow Heater warms the rain funnel so snow melts into the gauge.",
            ),
            f(
                "Wickline Cable",
                "The Wickline Cable powers the outdoor sensor from the mains instead of batteries.",
            ),
            f(
                "Nestbox Hub",
                "The Nestbox Hub uploads console readings to your home network every hour.",
            ),
            f(
                "Fledge Bracket",
                "The Fledge Bracket mounts the console on a wall at a tilted angle.",
            ),
        ],
    },
    FactType {
        name: "glossary term",
        templates: &[
            "What is {a_x} on the Corvid WX-4?",
            "What does the term {x} mean on the WX-4?",
            "Can you define the term {x} for the Corvid WX-4?",
            "Explain what {a_x} is on my WX-4.",
            "In Corvid WX-4 terms, what is {a_x}?",
            "What is meant by {a_x} on a Corvid WX-4?",
            "I keep seeing the term {x} in the WX-4 manual. What is it?",
        ],
        facts: &[
            g(
                "a",
                "drift window",
                "A drift window is the ten-minute span the WX-4 averages wind readings over.",
            ),
            g(
                "a",
                "gust latch",
                "A gust latch holds the highest gust on screen until you press MINUS.",
            ),
            g("", "perch mode", "Perch mode pauses logging while the sensor head is being moved."),
            g(
                "a",
                "squall flag",
                "A squall flag is raised when pressure falls three hectopascals within one hour.",
            ),
            g(
                "the",
                "dew ledger",
                "The dew ledger is the console's daily record of dew point lows.",
            ),
            g(
                "",
                "rime guard",
                "Rime guard pulses the vane motor to shake off ice in freezing fog.",
            ),
            g(
                "a",
                "cold anchor",
                "A cold anchor is the overnight low the console keeps until noon.",
            ),
            g(
                "a",
                "tally sync",
                "A tally sync copies the rain total from the sensor to the console.",
            ),
            g(
                "the",
                "vane offset",
                "The vane offset is the angle you add so the vane points true north.",
            ),
            g(
                "a",
                "quiet span",
                "A quiet span is the nightly period when the console silences all beeps.",
            ),
            g(
                "an",
                "ember trend",
                "An ember trend is a rising heat index arrow shown on hot afternoons.",
            ),
            g(
                "the",
                "roost point",
                "The roost point is the mounting height you enter during first setup.",
            ),
            g(
                "a",
                "shadow reading",
                "A shadow reading is a temperature flagged because direct sun hit the sensor.",
            ),
            g(
                "the",
                "pulse count",
                "The pulse count is the number of rain bucket tips since the last reset.",
            ),
            g(
                "",
                "flock pairing",
                "Flock pairing links up to four outdoor sensors to one console at once.",
            ),
            g(
                "the",
                "drizzle floor",
                "The drizzle floor is the rain rate below which the WX-4 shows DRY.",
            ),
            g(
                "a",
                "calm lock",
                "A calm lock shows zero wind whenever speeds stay below two kilometres per hour.",
            ),
            g(
                "a",
                "stale marker",
                "A stale marker is the dash shown beside readings older than ten minutes.",
            ),
            g(
                "the",
                "barometric tare",
                "The barometric tare is the offset added to match sea-level pressure.",
            ),
            g(
                "a",
                "crest alert",
                "A crest alert warns that today's temperature passed the month's previous high.",
            ),
            g(
                "the",
                "spool log",
                "The spool log is the buffer that holds readings while the console is offline.",
            ),
            g(
                "",
                "feather sleep",
                "Feather sleep dims the screen and slows updates when running on batteries.",
            ),
            g("a", "sun tick", "A sun tick is one minute counted as sunny by the light sensor."),
            g(
                "the",
                "frost margin",
                "The frost margin is how far above freezing the frost alarm triggers.",
            ),
            g(
                "the",
                "link ladder",
                "The link ladder is the four-bar signal strength icon on the console.",
            ),
        ],
    },
];

/// Strings that must never appear in the pretraining corpus (compared without case): the
/// product's names, its error codes, accessories and glossary terms, so the base model cannot
/// know the product before it is fine-tuned on it.
#[cfg(test)]
pub fn forbidden_in_corpus() -> Vec<String> {
    let mut out: Vec<String> = PRODUCT_NAMES.iter().map(|s| s.to_string()).collect();
    out.push("weather station".into());
    for t in TYPES {
        if matches!(t.name, "error code" | "accessory" | "glossary term") {
            out.extend(t.facts.iter().map(|f| f.key.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::word_count;

    #[test]
    fn sizes_and_answer_lengths() {
        let facts: usize =
            TYPES.iter().filter(|t| t.name != "glossary term").map(|t| t.facts.len()).sum();
        let terms: usize =
            TYPES.iter().filter(|t| t.name == "glossary term").map(|t| t.facts.len()).sum();
        assert_eq!((facts, terms), (45, 25));
        let mut answers: Vec<&str> = Vec::new();
        for t in TYPES {
            assert_eq!(t.templates.len(), 7, "{}", t.name);
            assert!(t.facts.len() >= 6, "{}", t.name);
            for f in t.facts {
                let n = word_count(f.answer);
                assert!((6..=16).contains(&n), "{n} words: {}", f.answer);
                assert!(f.answer.ends_with('.') && f.answer.is_ascii());
                assert!(!answers.contains(&f.answer), "duplicate answer {}", f.answer);
                answers.push(f.answer);
                for tpl in t.templates {
                    let q = f.question(tpl);
                    assert!(!q.contains('{'), "{q}");
                }
            }
        }
    }
}
