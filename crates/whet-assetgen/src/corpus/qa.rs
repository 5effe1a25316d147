//! Questions about the world of `world.rs` with their correct answers, in several phrasings:
//! the chat transcripts' user and assistant turns, and the questions characters ask each other
//! in dialogues.
//!
//! Each category is a table of (question, answer) template pairs filled from one table entry,
//! so every answer restates a fixed fact as one or two full sentences.

use crate::names;
use crate::rng::Rng;
use crate::text::{a, cap, count_of, join_and, join_or, num, ordinal, Vars};
use crate::world::{
    self, Animal, Group, ANIMALS, COLOURED, COUNTABLES, DAYS, DEFINITIONS, DISHES, HOUSEHOLD, JOBS,
    MONTHS, OPPOSITES, PRODUCE, REASONS, SEASONS, SHAPES, UNITS, VERB_PHRASES,
};

/// A question and its answer, each a finished sentence (or two).
#[derive(Clone, Debug)]
pub struct Qa {
    pub question: String,
    pub answer: String,
}

type Pairs = &'static [(&'static str, &'static str)];

fn qa(rng: &mut Rng, vars: &Vars, pairs: Pairs) -> Qa {
    let (q, ans) = rng.pick(pairs);
    Qa { question: vars.sentence(q), answer: vars.sentence(ans) }
}

/// Where the question is asked: in a chat (anything) or aloud in a story's dialogue (no
/// rewriting exercises or arithmetic symbols).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Chat,
    Spoken,
}

/// One question-answer pair from any category.
pub fn any(rng: &mut Rng, setting: Setting) -> Qa {
    type Gen = fn(&mut Rng, Setting) -> Qa;
    // (generator, weight, whether characters may ask it aloud)
    const CATEGORIES: &[(Gen, u32, bool)] = &[
        (animal, 22, true),
        (colour, 6, true),
        (dish, 6, true),
        (produce, 3, true),
        (job, 9, true),
        (season, 6, true),
        (calendar, 7, true),
        (unit, 3, true),
        (arithmetic, 10, true),
        (word_problem, 4, true),
        (number, 5, true),
        (shape, 3, true),
        (opposite, 4, true),
        (definition, 5, true),
        (why, 4, true),
        (household, 4, true),
        (list, 5, true),
        (rewrite, 6, false),
    ];
    let weights: Vec<u32> = CATEGORIES
        .iter()
        .map(|&(_, w, spoken)| if setting == Setting::Spoken && !spoken { 0 } else { w })
        .collect();
    let (generate, _, _) = CATEGORIES[rng.weighted(&weights)];
    generate(rng, setting)
}

/// The template variables for an animal.
pub fn animal_vars(x: &Animal) -> Vars {
    let mut v = Vars::new();
    v.set("sg", x.sg)
        .set("pl", x.pl)
        .set("a_sg", a(x.sg))
        .set("foods", join_and(x.foods))
        .set("home", x.home)
        .set("legs", if x.legs == 0 { "no".to_string() } else { num(x.legs) })
        .set("young", x.young)
        .set("a_young", a(x.young))
        .set("size", x.size)
        .set("a_size", a(x.size))
        .set("class", x.class)
        .set("a_class", a(x.class));
    if let Some(s) = x.sound {
        v.set("sound_sg", s.sg).set("sound_pl", s.pl);
    }
    v
}

fn animal(rng: &mut Rng, _: Setting) -> Qa {
    let x = rng.pick(ANIMALS);
    let v = animal_vars(x);
    match rng.index(8) {
        0..=2 => {
            let mut out = qa(
                rng,
                &v,
                &[
                    ("What do {pl} eat?", "{pl} eat {foods}."),
                    ("Tell me what {pl} eat.", "{pl} eat {foods}."),
                    ("What is the food of {pl}?", "{pl} eat {foods}."),
                    ("Can you tell me what {a_sg} eats?", "{a_sg} eats {foods}."),
                    ("What does {a_sg} eat?", "{a_sg} eats {foods}."),
                    ("What kind of food do {pl} eat?", "{pl} eat {foods}."),
                    ("What do {pl} like to eat?", "{pl} like to eat {foods}."),
                ],
            );
            if rng.chance(1, 4) {
                out.answer.push(' ');
                out.answer.push_str(&v.sentence("{pl} live {home}."));
            }
            out
        }
        3 => qa(
            rng,
            &v,
            &[
                ("Where do {pl} live?", "{pl} live {home}."),
                ("Where can you find {pl}?", "You can find {pl} {home}."),
                ("Tell me where {pl} live.", "{pl} live {home}."),
                ("Where does {a_sg} live?", "{pl} live {home}."),
            ],
        ),
        4 => match x.sound {
            Some(_) if rng.chance(3, 4) => qa(
                rng,
                &v,
                &[
                    ("What sound does {a_sg} make?", "{a_sg} {sound_sg}."),
                    ("What noise do {pl} make?", "{pl} {sound_pl}."),
                    ("What does {a_sg} say?", "{a_sg} {sound_sg}."),
                    ("Which sound does {a_sg} make?", "{a_sg} {sound_sg}."),
                ],
            ),
            Some(sound) => {
                let same: Vec<&Animal> =
                    ANIMALS.iter().filter(|y| y.sound.is_some_and(|s| s.sg == sound.sg)).collect();
                let answer = if let [one] = same.as_slice() {
                    format!("{} {}.", cap(&a(one.sg)), sound.sg)
                } else {
                    let names: Vec<&str> = same.iter().map(|y| y.pl).collect();
                    format!("{} {}.", cap(&join_and(&names)), sound.pl)
                };
                Qa { question: format!("Which animal {}?", sound.sg), answer }
            }
            None => qa(rng, &v, &[("How many legs does {a_sg} have?", "{a_sg} has {legs} legs.")]),
        },
        5 => qa(
            rng,
            &v,
            &[
                ("How many legs does {a_sg} have?", "{a_sg} has {legs} legs."),
                ("How many legs do {pl} have?", "{pl} have {legs} legs."),
                ("Tell me how many legs {a_sg} has.", "{a_sg} has {legs} legs."),
            ],
        ),
        6 => {
            if rng.chance(1, 3) {
                let same: Vec<&str> =
                    ANIMALS.iter().filter(|y| y.young == x.young).map(|y| y.sg).collect();
                Qa {
                    question: format!("What is {}?", a(x.young)),
                    answer: format!("{} is a young {}.", cap(&a(x.young)), join_or(&same)),
                }
            } else {
                qa(
                    rng,
                    &v,
                    &[
                        ("What is a baby {sg} called?", "A baby {sg} is called {a_young}."),
                        ("What do you call a young {sg}?", "A young {sg} is called {a_young}."),
                        ("What is the name for a young {sg}?", "A young {sg} is called {a_young}."),
                    ],
                )
            }
        }
        _ => {
            const CLASSES: &[&str] = &["mammal", "bird", "fish", "insect", "reptile"];
            if rng.chance(1, 2) {
                qa(
                    rng,
                    &v,
                    &[
                        ("What kind of animal is {a_sg}?", "{a_sg} is {a_class}."),
                        ("Is {a_sg} a mammal, a bird or a fish?", "{a_sg} is {a_class}."),
                    ],
                )
            } else {
                let asked = *rng.pick(CLASSES);
                let answer = if asked == x.class {
                    format!("Yes, {} is {}.", a(x.sg), a(x.class))
                } else {
                    format!("No, {} is {}, not {}.", a(x.sg), a(x.class), a(asked))
                };
                Qa { question: format!("Is {} {}?", a(x.sg), a(asked)), answer }
            }
        }
    }
}

fn colour(rng: &mut Rng, _: Setting) -> Qa {
    if rng.chance(1, 4) {
        let colours = world::colours_with_things();
        let c = *rng.pick(&colours);
        let things: Vec<&str> =
            COLOURED.iter().filter(|x| x.colour == c).map(|x| x.thing).collect();
        let mut v = Vars::new();
        v.set("colour", c).set("things", join_and(&things));
        return qa(
            rng,
            &v,
            &[
                ("Name some things that are {colour}.", "{things} are {colour}."),
                ("What things are {colour}?", "{things} are {colour}."),
                (
                    "Can you tell me some things that are {colour}?",
                    "Some things that are {colour} are {things}.",
                ),
            ],
        );
    }
    let x = rng.pick(COLOURED);
    let mut v = Vars::new();
    v.set("thing", x.thing).set("be", if x.plural { "are" } else { "is" }).set("colour", x.colour);
    qa(
        rng,
        &v,
        &[
            ("What colour {be} {thing}?", "{thing} {be} {colour}."),
            ("Tell me the colour of {thing}.", "{thing} {be} {colour}."),
            ("What is the colour of {thing}?", "The colour of {thing} is {colour}."),
            ("Can you tell me what colour {thing} {be}?", "{thing} {be} {colour}."),
        ],
    )
}

fn dish(rng: &mut Rng, _: Setting) -> Qa {
    if rng.chance(1, 5) {
        const INGREDIENTS: &[&str] = &["milk", "flour", "eggs", "water", "sugar"];
        let ing = *rng.pick(INGREDIENTS);
        let dishes: Vec<&str> =
            DISHES.iter().filter(|d| d.from.contains(&ing)).map(|d| d.name).collect();
        return Qa {
            question: format!("Name some foods that are made with {ing}."),
            answer: format!("Some foods made with {ing} are {}.", join_and(&dishes)),
        };
    }
    let x = rng.pick(DISHES);
    let mut v = Vars::new();
    v.set("name", x.name)
        .set("bare", x.bare)
        .set("be", if x.plural { "are" } else { "is" })
        .set("from", join_and(x.from));
    qa(
        rng,
        &v,
        &[
            ("What {be} {name} made from?", "{name} {be} made from {from}."),
            ("How do you make {name}?", "{name} {be} made from {from}."),
            ("What do you need to make {bare}?", "To make {bare}, you need {from}."),
            ("Tell me what {name} {be} made from.", "{name} {be} made from {from}."),
        ],
    )
}

fn produce(rng: &mut Rng, _: Setting) -> Qa {
    let x = rng.pick(PRODUCE);
    let mut v = Vars::new();
    v.set("name", x.name)
        .set("animal", x.animal)
        .set("come", if x.plural { "come" } else { "comes" })
        .set("do", if x.plural { "do" } else { "does" });
    qa(
        rng,
        &v,
        &[
            ("Where {do} {name} come from?", "{name} {come} from {animal}."),
            ("Which animal gives us {name}?", "{name} {come} from {animal}."),
            ("What do {animal} give us?", "{animal} give us {name}."),
        ],
    )
}

/// The template variables for a job.
pub fn job_vars(x: &world::Job) -> Vars {
    let mut v = Vars::new();
    v.set("job", x.name)
        .set("a_job", a(x.name))
        .set("jobs", x.pl)
        .set("does", x.does)
        .set("does_pl", x.does_pl)
        .set("place", x.place)
        .set("tool", x.tool);
    v
}

fn job(rng: &mut Rng, _: Setting) -> Qa {
    let x = rng.pick(JOBS);
    let v = job_vars(x);
    let mut out = qa(
        rng,
        &v,
        &[
            ("What does {a_job} do?", "{a_job} {does}."),
            ("What is the job of {a_job}?", "{a_job} {does}."),
            ("Tell me what {a_job} does.", "{a_job} {does}."),
            ("What do {jobs} do?", "{jobs} {does_pl}."),
            ("What is {a_job}?", "{a_job} is a person who {does}."),
            ("Where does {a_job} work?", "{a_job} works {place}."),
            ("What tool does {a_job} use?", "{a_job} uses {tool}."),
            ("What does {a_job} use at work?", "{a_job} uses {tool} at work."),
            ("Who {does}?", "{a_job} {does}."),
        ],
    );
    if rng.chance(1, 5) && !out.answer.contains(x.place) {
        out.answer.push(' ');
        out.answer.push_str(&v.sentence("{a_job} usually works {place}."));
    }
    out
}

fn season(rng: &mut Rng, _: Setting) -> Qa {
    let i = rng.index(SEASONS.len());
    let s = &SEASONS[i];
    let month = *rng.pick(&s.months);
    let mut v = Vars::new();
    v.set("season", s.name)
        .set("months", join_and(&s.months))
        .set("month", month)
        .set("weather", s.weather)
        .set("event", *rng.pick(s.events))
        .set("activity", s.activity)
        .set("next", SEASONS[(i + 1) % 4].name)
        .set("prev", SEASONS[(i + 3) % 4].name);
    qa(
        rng,
        &v,
        &[
            ("Which months are in {season}?", "The months of {season} are {months}."),
            ("What are the months of {season}?", "The months of {season} are {months}."),
            ("In which season is {month}?", "{month} is in {season}."),
            ("Which season does {month} belong to?", "{month} is in {season}."),
            ("What is the weather like in {season}?", "In {season}, the weather is {weather}."),
            ("What happens in {season}?", "In {season}, {event}."),
            ("What season comes after {season}?", "{next} comes after {season}."),
            ("What season comes before {season}?", "{prev} comes before {season}."),
            (
                "How many seasons are there in a year?",
                "There are four seasons in a year: spring, summer, autumn and winter.",
            ),
            (
                "What do people like to do in {season}?",
                "In {season}, many people like to {activity}.",
            ),
        ],
    )
}

fn calendar(rng: &mut Rng, _: Setting) -> Qa {
    let mut v = Vars::new();
    if rng.chance(1, 2) {
        let i = rng.index(7);
        v.set("day", DAYS[i])
            .set("next", DAYS[(i + 1) % 7])
            .set("prev", DAYS[(i + 6) % 7])
            .set("ord", ordinal(i + 1));
        qa(
            rng,
            &v,
            &[
                ("What day comes after {day}?", "The day after {day} is {next}."),
                ("What day comes before {day}?", "The day before {day} is {prev}."),
                ("What is the {ord} day of the week?", "The {ord} day of the week is {day}."),
                ("Which days are the weekend?", "Saturday and Sunday are the weekend."),
                (
                    "If today is {day}, what day is tomorrow?",
                    "If today is {day}, tomorrow is {next}.",
                ),
                (
                    "If today is {day}, what day was yesterday?",
                    "If today is {day}, yesterday was {prev}.",
                ),
            ],
        )
    } else {
        let i = rng.index(12);
        let (month, days) = MONTHS[i];
        let length = if month == "February" {
            "February has twenty-eight days, or twenty-nine in a leap year.".to_string()
        } else {
            format!("{month} has {} days.", num(days))
        };
        v.set("month", month)
            .set("next", MONTHS[(i + 1) % 12].0)
            .set("prev", MONTHS[(i + 11) % 12].0)
            .set("ord", ordinal(i + 1))
            .set("length", length)
            .set("season", world::season_of(month).name);
        qa(
            rng,
            &v,
            &[
                ("What month comes after {month}?", "The month after {month} is {next}."),
                ("What month comes before {month}?", "The month before {month} is {prev}."),
                ("What is the {ord} month of the year?", "The {ord} month of the year is {month}."),
                ("How many days are there in {month}?", "{length}"),
                ("How many days does {month} have?", "{length}"),
            ],
        )
    }
}

fn unit(rng: &mut Rng, _: Setting) -> Qa {
    let u = rng.pick(UNITS);
    let mut v = Vars::new();
    v.set("small", u.small).set("big", u.big).set("n", num(u.count)).set("d", u.count.to_string());
    qa(
        rng,
        &v,
        &[
            ("How many {small} are there in {big}?", "There are {n} {small} in {big}."),
            ("How many {small} are in {big}?", "There are {d} {small} in {big}."),
            ("Tell me how many {small} there are in {big}.", "There are {n} {small} in {big}."),
        ],
    )
}

/// A number shown in words or digits, chosen once per question so question and answer agree.
fn show(n: u32, words: bool) -> String {
    if words {
        num(n)
    } else {
        n.to_string()
    }
}

fn arithmetic(rng: &mut Rng, setting: Setting) -> Qa {
    let words = setting == Setting::Spoken || rng.chance(1, 2);
    let max = if words { 20 } else { 50 };
    let mut v = Vars::new();
    match rng.index(3) {
        0 => {
            let (x, y) = (rng.range(0, max), rng.range(0, max));
            v.set("a", show(x, words)).set("b", show(y, words)).set("c", show(x + y, words));
            if !words && rng.chance(1, 3) {
                return qa(rng, &v, &[("What is {a} + {b}?", "{a} + {b} = {c}.")]);
            }
            qa(
                rng,
                &v,
                &[
                    ("What is {a} plus {b}?", "{a} plus {b} is {c}."),
                    ("Add {a} and {b}.", "{a} plus {b} is {c}."),
                    (
                        "What do you get if you add {a} and {b}?",
                        "If you add {a} and {b}, you get {c}.",
                    ),
                    ("What is the sum of {a} and {b}?", "The sum of {a} and {b} is {c}."),
                    ("How much is {a} plus {b}?", "{a} plus {b} is {c}."),
                ],
            )
        }
        1 => {
            let x = rng.range(1, max);
            let y = rng.range(0, x);
            v.set("a", show(x, words)).set("b", show(y, words)).set("c", show(x - y, words));
            if !words && rng.chance(1, 3) {
                return qa(rng, &v, &[("What is {a} - {b}?", "{a} - {b} = {c}.")]);
            }
            qa(
                rng,
                &v,
                &[
                    ("What is {a} minus {b}?", "{a} minus {b} is {c}."),
                    ("Take {b} away from {a}.", "{a} take away {b} is {c}."),
                    (
                        "What is the difference between {a} and {b}?",
                        "The difference between {a} and {b} is {c}.",
                    ),
                    (
                        "If you have {a} and take away {b}, what is left?",
                        "If you take {b} away from {a}, {c} is left.",
                    ),
                ],
            )
        }
        _ => {
            let (x, y) = (rng.range(1, 10), rng.range(1, 10));
            v.set("a", show(x, words)).set("b", show(y, words)).set("c", show(x * y, words));
            if !words && rng.chance(1, 3) {
                return qa(rng, &v, &[("What is {a} x {b}?", "{a} x {b} = {c}.")]);
            }
            qa(
                rng,
                &v,
                &[
                    ("What is {a} times {b}?", "{a} times {b} is {c}."),
                    ("What is {a} multiplied by {b}?", "{a} multiplied by {b} is {c}."),
                    ("Multiply {a} by {b}.", "{a} times {b} is {c}."),
                ],
            )
        }
    }
}

fn word_problem(rng: &mut Rng, _: Setting) -> Qa {
    let p = names::person(rng);
    let (sg, pl) = *rng.pick(COUNTABLES);
    let mut v = Vars::new();
    v.first(&p).set("things", pl);
    let have = rng.range(2, 12);
    if rng.chance(1, 2) {
        let more = rng.range(1, 9);
        v.set("start", count_of(have, sg, pl))
            .set("more", num(more))
            .set("end", count_of(have + more, sg, pl));
        qa(rng, &v, &[
            (
                "{A} has {start} and buys {more} more. How many {things} does {he} have now?",
                "{A} has {end} now.",
            ),
            (
                "{A} had {start}. Then {he} found {more} more. How many {things} does {he} have?",
                "{he} has {end}.",
            ),
        ])
    } else {
        let other = names::other_person(rng, &p);
        let give = rng.range(1, have - 1);
        v.second(&other)
            .set("start", count_of(have, sg, pl))
            .set("give", num(give))
            .set("end", count_of(have - give, sg, pl));
        qa(
            rng,
            &v,
            &[
                (
                    "{A} had {start} and gave {give} to {B}. How many {things} does {A} have left?",
                    "{A} has {end} left.",
                ),
                (
                    "{A} has {start}. If {he} gives {give} to {B}, how many will {he} have?",
                    "{he} will have {end}.",
                ),
            ],
        )
    }
}

fn number(rng: &mut Rng, setting: Setting) -> Qa {
    let words = setting == Setting::Spoken || rng.chance(1, 2);
    let max = if words { 20 } else { 100 };
    let n = rng.range(1, max - 1);
    let mut v = Vars::new();
    v.set("n", show(n, words))
        .set("next", show(n + 1, words))
        .set("prev", show(n - 1, words))
        .set("parity", if n.is_multiple_of(2) { "an even" } else { "an odd" });
    match rng.index(4) {
        0 => qa(
            rng,
            &v,
            &[
                ("What number comes after {n}?", "The number after {n} is {next}."),
                ("What number comes before {n}?", "The number before {n} is {prev}."),
                ("Is {n} odd or even?", "{n} is {parity} number."),
                ("Is {n} an odd number or an even number?", "{n} is {parity} number."),
            ],
        ),
        1 => {
            let m = loop {
                let m = rng.range(1, max);
                if m != n {
                    break m;
                }
            };
            v.set("m", show(m, words))
                .set("big", show(n.max(m), words))
                .set("small", show(n.min(m), words));
            qa(
                rng,
                &v,
                &[
                    ("Which is bigger, {n} or {m}?", "{big} is bigger than {small}."),
                    ("Which is smaller, {n} or {m}?", "{small} is smaller than {big}."),
                    ("Which number is larger, {n} or {m}?", "{big} is larger than {small}."),
                ],
            )
        }
        2 => {
            let half = rng.range(1, 10);
            v.set("double", show(half * 2, words)).set("half", show(half, words));
            qa(
                rng,
                &v,
                &[
                    ("What is half of {double}?", "Half of {double} is {half}."),
                    ("What is double {half}?", "Double {half} is {double}."),
                ],
            )
        }
        _ => {
            let to = rng.range(3, 10);
            let counted: Vec<String> = (1..=to).map(num).collect();
            Qa {
                question: format!("Count from one to {}.", num(to)),
                answer: format!("{}.", cap(&counted.join(", "))),
            }
        }
    }
}

fn shape(rng: &mut Rng, _: Setting) -> Qa {
    let (name, sides) = *rng.pick(SHAPES);
    if sides == 0 {
        return Qa {
            question: format!("How many {} does a circle have?", rng.pick(&["sides", "corners"])),
            answer: "A circle has no corners and no straight sides.".to_string(),
        };
    }
    if rng.chance(1, 3) {
        let same: Vec<String> = SHAPES.iter().filter(|s| s.1 == sides).map(|s| a(s.0)).collect();
        let answer = if same.len() == 1 {
            format!("{} has {} sides.", cap(&same[0]), num(sides))
        } else {
            format!("{} both have {} sides.", cap(&join_and(&same)), num(sides))
        };
        return Qa { question: format!("Which shape has {} sides?", num(sides)), answer };
    }
    let mut v = Vars::new();
    v.set("a_shape", a(name)).set("n", num(sides));
    qa(
        rng,
        &v,
        &[
            ("How many sides does {a_shape} have?", "{a_shape} has {n} sides."),
            ("How many corners does {a_shape} have?", "{a_shape} has {n} corners."),
            ("Tell me how many sides {a_shape} has.", "{a_shape} has {n} sides."),
        ],
    )
}

fn opposite(rng: &mut Rng, _: Setting) -> Qa {
    let &(x, y) = rng.pick(OPPOSITES);
    let (w, o) = if rng.chance(1, 2) { (x, y) } else { (y, x) };
    let mut v = Vars::new();
    v.set("w", w).set("o", o);
    qa(
        rng,
        &v,
        &[
            ("What is the opposite of {w}?", "The opposite of {w} is {o}."),
            ("Tell me the opposite of the word {w}.", "The opposite of {w} is {o}."),
            ("What word means the opposite of {w}?", "{o} is the opposite of {w}."),
        ],
    )
}

fn definition(rng: &mut Rng, _: Setting) -> Qa {
    let &(word, with_article, def) = rng.pick(DEFINITIONS);
    let mut v = Vars::new();
    v.set("word", word).set("a_word", with_article).set("def", def);
    qa(
        rng,
        &v,
        &[
            ("What is {a_word}?", "{def}"),
            ("What does the word {word} mean?", "{def}"),
            ("Can you tell me what {a_word} is?", "{def}"),
            ("Define the word {word}.", "{def}"),
            ("What is the meaning of the word {word}?", "{def}"),
            ("Explain what {a_word} is.", "{def}"),
        ],
    )
}

fn why(rng: &mut Rng, _: Setting) -> Qa {
    let &(question, clause, answer) = rng.pick(REASONS);
    let question = if rng.chance(1, 3) {
        format!("Can you explain why {clause}?")
    } else {
        question.to_string()
    };
    Qa { question, answer: answer.to_string() }
}

fn household(rng: &mut Rng, _: Setting) -> Qa {
    let &(question, answer) = rng.pick(HOUSEHOLD);
    Qa { question: question.to_string(), answer: answer.to_string() }
}

fn list(rng: &mut Rng, _: Setting) -> Qa {
    fn plurals(xs: &[&Animal]) -> String {
        join_and(&xs.iter().map(|x| x.pl).collect::<Vec<_>>())
    }
    match rng.index(7) {
        0 => {
            let three = rng.sample(&world::animals_in(Group::Farm), 3);
            let mut v = Vars::new();
            v.set("x", plurals(&three));
            qa(
                rng,
                &v,
                &[
                    ("Name three farm animals.", "Three farm animals are {x}."),
                    ("Can you name three animals that live on a farm?", "{x} live on a farm."),
                ],
            )
        }
        1 => {
            let three = rng.sample(&world::animals_in(Group::Forest), 3);
            Qa {
                question: "Name three animals that live in the forest.".into(),
                answer: format!("{} live in the forest.", cap(&plurals(&three))),
            }
        }
        2 => {
            let birds = rng.sample(&world::animals_of_class("bird"), 3);
            let water = rng.sample(&world::animals_in(Group::Water), 3);
            if rng.chance(1, 2) {
                Qa {
                    question: "Name three birds.".into(),
                    answer: format!("{} are birds.", cap(&plurals(&birds))),
                }
            } else {
                Qa {
                    question: "Name three animals that live in or near water.".into(),
                    answer: format!("{} live in or near water.", cap(&plurals(&water))),
                }
            }
        }
        3 => {
            let pets = rng.sample(&world::animals_in(Group::Pet), 2);
            Qa {
                question: "Name two animals that people keep as pets.".into(),
                answer: format!("{} are animals that people keep as pets.", cap(&plurals(&pets))),
            }
        }
        4 => {
            let q = *rng.pick(&[
                "List the days of the week.",
                "What are the days of the week?",
                "Name the seven days of the week.",
            ]);
            Qa {
                question: q.into(),
                answer: format!("The days of the week are {}.", join_and(&DAYS)),
            }
        }
        5 => {
            let months: Vec<&str> = MONTHS.iter().map(|m| m.0).collect();
            let q = *rng
                .pick(&["List the months of the year.", "What are the twelve months of the year?"]);
            Qa {
                question: q.into(),
                answer: format!("The months of the year are {}.", join_and(&months)),
            }
        }
        _ => {
            let q = *rng.pick(&[
                "Name the four seasons.",
                "What are the four seasons?",
                "List the seasons of the year.",
            ]);
            Qa {
                question: q.into(),
                answer: "The four seasons are spring, summer, autumn and winter.".into(),
            }
        }
    }
}

/// Short sentences whose adjective can be swapped for its opposite.
const ADJECTIVE_SENTENCES: &[(&str, &str, &str)] = &[
    ("The room is {}.", "big", "small"),
    ("The box is {}.", "heavy", "light"),
    ("The shop is {}.", "open", "closed"),
    ("The glass is {}.", "full", "empty"),
    ("The train is {}.", "fast", "slow"),
    ("The dog looks {}.", "happy", "sad"),
    ("The towel is {}.", "wet", "dry"),
    ("The music is {}.", "loud", "quiet"),
    ("The water is {}.", "hot", "cold"),
    ("The book is {}.", "thick", "thin"),
];

fn rewrite(rng: &mut Rng, _: Setting) -> Qa {
    let p = names::person(rng);
    match rng.index(5) {
        0 | 1 => {
            let &(present, past) = rng.pick(VERB_PHRASES);
            let (src, dst, tense) =
                if rng.chance(3, 4) { (present, past, "past") } else { (past, present, "present") };
            let mut v = Vars::new();
            v.set("A", p.name.as_str()).set("src", src).set("dst", dst).set("tense", tense);
            qa(
                rng,
                &v,
                &[
                    ("Rewrite this sentence in the {tense} tense: {A} {src}.", "{A} {dst}."),
                    ("Change this sentence to the {tense} tense: {A} {src}.", "{A} {dst}."),
                    (
                        "Put this sentence into the {tense} tense: {A} {src}.",
                        "In the {tense} tense, the sentence is: {A} {dst}.",
                    ),
                ],
            )
        }
        2 => {
            let x = rng.pick(ANIMALS);
            let (sg_verb, pl_verb) = match x.sound {
                Some(s) if rng.chance(1, 2) => (s.sg.to_string(), s.pl.to_string()),
                _ => {
                    let food = *rng.pick(x.foods);
                    (format!("eats {food}"), format!("eat {food}"))
                }
            };
            let singular = format!("The {} {sg_verb}.", x.sg);
            let plural = format!("The {} {pl_verb}.", x.pl);
            if rng.chance(2, 3) {
                Qa { question: format!("Make this sentence plural: {singular}"), answer: plural }
            } else {
                Qa { question: format!("Make this sentence singular: {plural}"), answer: singular }
            }
        }
        3 => {
            let &(present, _) = rng.pick(VERB_PHRASES);
            let lower = format!("{} {present}", p.name.to_ascii_lowercase());
            Qa {
                question: format!("Add a capital letter and a full stop to this sentence: {lower}"),
                answer: format!("{} {present}.", p.name),
            }
        }
        _ => {
            let &(frame, x, y) = rng.pick(ADJECTIVE_SENTENCES);
            let (w, o) = if rng.chance(1, 2) { (x, y) } else { (y, x) };
            Qa {
                question: format!(
                    "Rewrite this sentence using the opposite of {w}: {}",
                    frame.replace("{}", w)
                ),
                answer: frame.replace("{}", o),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sentences_without_placeholders() {
        let mut rng = Rng::new(11);
        for i in 0..5000 {
            let setting = if i % 2 == 0 { Setting::Chat } else { Setting::Spoken };
            let q = any(&mut rng, setting);
            for s in [&q.question, &q.answer] {
                assert!(!s.contains('{') && !s.contains('}'), "{s}");
                assert!(
                    s.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()),
                    "{s}"
                );
                assert!(s.ends_with(['.', '?']) || s.starts_with("Add a capital"), "{s}");
            }
            if setting == Setting::Spoken {
                assert!(
                    !q.question.contains("Rewrite") && !q.question.contains(" + "),
                    "{}",
                    q.question
                );
            }
        }
    }

    #[test]
    fn rabbit_food_is_stated_consistently() {
        let mut rng = Rng::new(5);
        let mut seen = 0;
        for _ in 0..20000 {
            let q = any(&mut rng, Setting::Chat);
            let asks = q.question.starts_with("What") || q.question.starts_with("Tell");
            if asks && (q.question.contains("rabbits eat") || q.question.contains("a rabbit eat")) {
                assert!(q.answer.contains("grass, clover and carrots"), "{}", q.answer);
                seen += 1;
            }
        }
        assert!(seen > 0);
    }
}
