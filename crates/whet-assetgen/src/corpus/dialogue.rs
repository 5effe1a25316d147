//! Conversations between two named people, told in plain prose with quotation marks
//! (`Tom asked, "Where are you going?" Lia answered, "..."`): plans, questions about the world,
//! favourite seasons, jobs, asking for help.

use super::qa::{self, Setting};
use crate::names;
use crate::rng::Rng;
use crate::text::{a, cap, Vars};
use crate::world::{JOBS, SEASONS};

/// Lines of a conversation.
struct Talk<'a> {
    v: &'a Vars,
    out: Vec<String>,
}

impl Talk<'_> {
    fn narrate(&mut self, t: &str) {
        self.out.push(self.v.sentence(t));
    }
    /// `who` says `line`, with `verb` ("asked", "said").
    fn line(&mut self, who: &str, verb: &str, line: &str) {
        let line = cap(&self.v.fill(line));
        self.out.push(format!("{who} {verb}, \"{line}\""));
    }
}

fn reply_verb(rng: &mut Rng) -> &'static str {
    rng.pick_str(&["answered", "said", "replied"])
}

pub fn generate(rng: &mut Rng) -> String {
    let first = names::person(rng);
    let second = names::other_person(rng, &first);
    let mut v = Vars::new();
    v.first(&first).second(&second);
    v.set("time", *rng.pick(super::story::TIMES));
    let (x, y) = (first.name.as_str(), second.name.as_str());
    let mut t = Talk { v: &v, out: Vec::new() };
    match rng.weighted(&[3, 5, 2, 2, 2]) {
        0 => plans(rng, &mut t, x, y),
        1 => quiz(rng, &mut t, x, y),
        2 => favourite_season(rng, &mut t, x, y),
        3 => future_job(rng, &mut t, x, y),
        _ => help(rng, &mut t, x, y),
    }
    t.out.join(" ")
}

fn plans(rng: &mut Rng, t: &mut Talk, x: &str, y: &str) {
    const PLANS: &[(&str, &str)] = &[
        ("the market", "buy some apples and a loaf of bread"),
        ("the bakery", "buy a cake for my grandmother's birthday"),
        ("the library", "borrow a book about owls"),
        ("the post office", "send a letter to my uncle"),
        ("the park", "fly my new kite"),
        ("the river", "watch the boats"),
        ("the farm", "buy some eggs from the farmer"),
    ];
    let &(place, goal) = rng.pick(PLANS);
    t.narrate(rng.pick_str(&[
        "{A} met {B} in the street one {time}.",
        "one {time}, {A} saw {B} outside {his} house.",
    ]));
    t.line(x, "asked", &format!("Where are you going, {y}?"));
    t.line(y, reply_verb(rng), &format!("I am going to {place} to {goal}."));
    if rng.chance(1, 2) {
        t.line(x, "asked", "Can I come with you?");
        t.line(
            y,
            reply_verb(rng),
            rng.pick_str(&[
                "Yes, of course. Let us go together.",
                "Yes, but bring your umbrella, because it is going to rain.",
                "Yes, please. It is more fun with a friend.",
            ]),
        );
        t.narrate(&format!("So {{A}} and {{B}} went to {place} together."));
    } else {
        t.line(
            x,
            "said",
            rng.pick_str(&[
                "Have a nice time!",
                "Good luck, and see you later.",
                "I went there yesterday. It was very busy.",
            ]),
        );
        t.line(
            y,
            reply_verb(rng),
            rng.pick_str(&["Thank you. See you tomorrow.", "Thanks! Goodbye."]),
        );
    }
}

fn quiz(rng: &mut Rng, t: &mut Talk, x: &str, y: &str) {
    t.narrate(rng.pick_str(&[
        "{A} and {B} were sitting in the garden.",
        "{B} was helping {A} with {his} homework.",
        "one {time}, {A} and {B} were walking home from school.",
        "{A} was reading a book, and {B} was sitting next to {him}.",
    ]));
    let rounds = rng.range(2, 3);
    for i in 0..rounds {
        let q = qa::any(rng, Setting::Spoken);
        // Alternate who asks, so both characters speak.
        let (asker, answerer) = if i % 2 == 0 { (x, y) } else { (y, x) };
        let verb = if q.question.ends_with('?') { "asked" } else { "said" };
        t.line(asker, verb, &q.question);
        t.line(answerer, reply_verb(rng), &q.answer);
        if rng.chance(1, 2) {
            t.line(
                asker,
                "said",
                rng.pick_str(&[
                    "Thank you. I did not know that.",
                    "That is right!",
                    "Good. I thought so.",
                    "Oh, I see.",
                ]),
            );
        }
    }
}

fn favourite_season(rng: &mut Rng, t: &mut Talk, x: &str, y: &str) {
    let i = rng.index(4);
    let j = (i + 1 + rng.index(3)) % 4;
    let (s, o) = (&SEASONS[i], &SEASONS[j]);
    t.narrate("{A} and {B} were talking about the seasons.");
    t.line(x, "asked", "What is your favourite season?");
    t.line(
        y,
        reply_verb(rng),
        &format!("My favourite season is {}, because the weather is {}.", s.name, s.weather),
    );
    t.line(x, "said", &format!("I like {} best. In {}, I like to {}.", o.name, o.name, o.activity));
    if rng.chance(1, 2) {
        t.line(y, "asked", &format!("Which months are in {}?", o.name));
        t.line(
            x,
            reply_verb(rng),
            &format!(
                "The months of {} are {}, {} and {}.",
                o.name, o.months[0], o.months[1], o.months[2]
            ),
        );
    }
}

fn future_job(rng: &mut Rng, t: &mut Talk, x: &str, y: &str) {
    let job = rng.pick(JOBS);
    let other = rng.pick(JOBS);
    t.narrate(rng.pick_str(&[
        "{A} and {B} were sitting on a wall in the sun.",
        "after school, {A} and {B} were talking.",
    ]));
    t.line(x, "asked", "What do you want to be when you grow up?");
    t.line(
        y,
        reply_verb(rng),
        &format!("I want to be {}. {} {}.", a(job.name), cap(&a(job.name)), job.does),
    );
    t.line(x, "said", "That sounds like a good job.");
    if other.name != job.name && rng.chance(2, 3) {
        t.line(y, "asked", "And what about you?");
        t.line(
            x,
            reply_verb(rng),
            &format!(
                "I would like to be {}, because I want to work {}.",
                a(other.name),
                other.place
            ),
        );
    }
}

fn help(rng: &mut Rng, t: &mut Talk, x: &str, y: &str) {
    let (thing, why) = *rng.pick(&[
        ("carry this box", "It is very heavy."),
        ("find my keys", "I cannot open the door without them."),
        ("water the plants", "The soil is very dry."),
        ("fix my bicycle", "The chain has come off."),
    ]);
    t.narrate("{A} knocked on {B}'s door.");
    t.line(x, "asked", &format!("Can you help me {thing}? {why}"));
    t.line(y, reply_verb(rng), "Yes, of course. I am happy to help.");
    t.narrate(rng.pick_str(&[
        "they worked together, and soon the job was done.",
        "it took a few minutes, but together they managed it.",
    ]));
    t.line(x, "said", "Thank you for your help.");
    t.line(y, reply_verb(rng), "You are welcome. That is what friends are for.");
}
