//! Encyclopedic paragraphs about the world of `world.rs`: one animal, a group of animals,
//! colours, food, jobs, seasons, the calendar, numbers, shapes and time, words.
//!
//! Each fact has several phrasings, chosen at random per document, so the model meets the same
//! fact in different words across the corpus; the fact itself always comes from the tables.

use crate::rng::Rng;
use crate::text::{a, cap, join_and, num, ordinal, Vars};
use crate::world::{
    self, Animal, Group, ANIMALS, COLOURED, DAYS, DEFINITIONS, DISHES, HOUSEHOLD, JOBS, MONTHS,
    OPPOSITES, PRODUCE, REASONS, SEASONS, SHAPES, UNITS,
};

use super::qa::{animal_vars, job_vars};

/// Sentences from templates, each filled and capitalised.
struct Para<'a> {
    v: &'a Vars,
    out: Vec<String>,
}

impl Para<'_> {
    fn say(&mut self, t: &str) {
        self.out.push(self.v.sentence(t));
    }
    fn say_one(&mut self, rng: &mut Rng, ts: &[&str]) {
        let t = *rng.pick(ts);
        self.say(t);
    }
}

pub fn generate(rng: &mut Rng) -> String {
    let kinds: &[fn(&mut Rng) -> String] = &[
        one_animal,
        animal_group,
        colours,
        food,
        jobs,
        seasons,
        calendar,
        numbers,
        shapes_and_time,
        words,
        household,
    ];
    let kind = kinds[rng.weighted(&[14, 6, 4, 5, 5, 5, 5, 7, 3, 4, 3])];
    kind(rng)
}

const FOOD: &[&str] = &[
    "{pl} eat {foods}.",
    "the food of {pl} is {foods}.",
    "{a_sg} eats {foods}.",
    "{pl} like to eat {foods}.",
    "what do {pl} eat? They eat {foods}.",
    "for food, {pl} eat {foods}.",
];
const HOME: &[&str] = &[
    "{pl} live {home}.",
    "you can find {pl} {home}.",
    "where do {pl} live? They live {home}.",
    "most {pl} live {home}.",
];
const SOUND: &[&str] =
    &["{a_sg} {sound_sg}.", "{pl} {sound_pl}.", "if you listen, you can hear {a_sg} {sound_pl}."];
const LEGS: &[&str] = &["{a_sg} has {legs} legs.", "{pl} have {legs} legs."];
const YOUNG: &[&str] = &[
    "a young {sg} is called {a_young}.",
    "a baby {sg} is called {a_young}.",
    "{a_young} is a young {sg}.",
];
const CLASS: &[&str] = &["{a_sg} is {a_class}.", "{pl} are {class}s.", "the {sg} is {a_class}."];
const SIZE: &[&str] = &["{pl} are {size} animals.", "{a_sg} is {a_size} animal."];

/// One randomly phrased sentence for each of the animal's facts, in random order.
fn animal_facts(rng: &mut Rng, x: &Animal, v: &Vars) -> Vec<String> {
    let mut groups: Vec<&[&str]> = vec![FOOD, HOME, LEGS, YOUNG, CLASS, SIZE];
    if x.sound.is_some() {
        groups.push(SOUND);
    }
    rng.shuffle(&mut groups);
    groups.iter().map(|g| v.sentence(rng.pick_str(g))).collect()
}

fn one_animal(rng: &mut Rng) -> String {
    let x = rng.pick(ANIMALS);
    let mut v = animal_vars(x);
    v.set("place", x.place);
    let mut p = Para { v: &v, out: Vec::new() };
    p.say_one(
        rng,
        &[
            "let us learn about {pl}.",
            "this is a short text about {pl}.",
            "here are some facts about {pl}.",
        ],
    );
    let facts = animal_facts(rng, x, &v);
    let keep = rng.range(4, facts.len() as u32) as usize;
    p.out.extend(facts.into_iter().take(keep));
    // A fact shared with another animal, to tie the tables together.
    let shared: Vec<(&Animal, &str)> = ANIMALS
        .iter()
        .filter(|y| y.sg != x.sg)
        .flat_map(|y| y.foods.iter().filter(|f| x.foods.contains(f)).map(move |f| (y, *f)))
        .collect();
    if !shared.is_empty() && rng.chance(1, 2) {
        let &(y, f) = rng.pick(&shared);
        p.out.push(cap(&format!("like {}, {} also eat {f}.", x.pl, y.pl)));
    }
    if rng.chance(1, 3) {
        p.say_one(
            rng,
            &[
                "if you visit {place}, you might see {a_sg}.",
                "many children like to read about {pl}.",
            ],
        );
    }
    p.out.join(" ")
}

fn animal_group(rng: &mut Rng) -> String {
    let (group, intro) = *rng.pick(&[
        (Group::Farm, "many animals live on farms."),
        (Group::Forest, "many animals live in the forest."),
        (Group::Water, "some animals live in or near water."),
        (Group::Wild, "some animals live in faraway places, but you can see them at the zoo."),
        (Group::Field, "some small animals live in fields."),
    ]);
    let members = world::animals_in(group);
    let n = rng.range(2, members.len().min(5) as u32) as usize;
    let chosen = rng.sample(&members, n);
    let names: Vec<&str> = chosen.iter().map(|x| x.pl).collect();
    let mut out = vec![cap(intro)];
    out.push(format!("In this text, we look at {}.", join_and(&names)));
    for x in chosen {
        let v = animal_vars(x);
        let facts = animal_facts(rng, x, &v);
        let keep = rng.range(2, 3) as usize;
        out.extend(facts.into_iter().take(keep));
    }
    out.join(" ")
}

fn colours(rng: &mut Rng) -> String {
    let mut out = vec![(*rng.pick(&[
        "Everything around us has a colour.",
        "Let us talk about colours.",
        "Many things have their own colour.",
    ]))
    .to_string()];
    let n = rng.range(4, 8) as usize;
    for x in rng.sample(COLOURED, n) {
        let mut v = Vars::new();
        v.set("thing", x.thing)
            .set("be", if x.plural { "are" } else { "is" })
            .set("it", if x.plural { "they" } else { "it" })
            .set("colour", x.colour);
        let t = *rng.pick(&[
            "{thing} {be} {colour}.",
            "the colour of {thing} is {colour}.",
            "if you look at {thing}, you will see that {it} {be} {colour}.",
            "{thing} {be} {colour}.",
        ]);
        out.push(v.sentence(t));
    }
    if rng.chance(1, 2) {
        let colours = world::colours_with_things();
        let c = *rng.pick(&colours);
        let things: Vec<&str> =
            COLOURED.iter().filter(|x| x.colour == c).map(|x| x.thing).collect();
        let two = rng.sample(&things, 2);
        out.push(cap(&format!("both {} and {} are {c}.", two[0], two[1])));
    }
    out.join(" ")
}

fn food(rng: &mut Rng) -> String {
    let mut out = vec![(*rng.pick(&[
        "Our food comes from many places.",
        "Let us learn where our food comes from.",
        "Every day we eat many kinds of food.",
    ]))
    .to_string()];
    let n = rng.range(2, 5) as usize;
    for d in rng.sample(DISHES, n) {
        let mut v = Vars::new();
        let many = d.from.len() > 1 || d.from[0].ends_with('s');
        v.set("name", d.name)
            .set("bare", d.bare)
            .set("be", if d.plural { "are" } else { "is" })
            .set("from", join_and(d.from))
            .set("from_be", if many { "are" } else { "is" });
        let t = *rng.pick(&[
            "{name} {be} made from {from}.",
            "to make {bare}, you need {from}.",
            "{from} {from_be} used to make {name}.",
        ]);
        out.push(v.sentence(t));
    }
    let n = rng.range(1, 3) as usize;
    for x in rng.sample(PRODUCE, n) {
        let mut v = Vars::new();
        v.set("name", x.name)
            .set("animal", x.animal)
            .set("come", if x.plural { "come" } else { "comes" });
        let t = *rng.pick(&[
            "{name} {come} from {animal}.",
            "{animal} give us {name}.",
            "we get {name} from {animal}.",
        ]);
        out.push(v.sentence(t));
    }
    rng.shuffle(&mut out[1..]);
    out.join(" ")
}

fn jobs(rng: &mut Rng) -> String {
    let mut out = vec![(*rng.pick(&[
        "People do many different jobs.",
        "Every town needs people who do different jobs.",
        "Let us learn about some jobs.",
    ]))
    .to_string()];
    let n = rng.range(2, 4) as usize;
    for j in rng.sample(JOBS, n) {
        let v = job_vars(&j);
        let mut facts: Vec<&str> = vec![
            *rng.pick(&[
                "{a_job} {does}.",
                "{jobs} {does_pl}.",
                "a person who {does} is called {a_job}.",
            ]),
            *rng.pick(&["{a_job} works {place}.", "{a_job} usually works {place}."]),
            *rng.pick(&[
                "{a_job} uses {tool}.",
                "to do the job, {a_job} needs {tool}.",
                "{jobs} use {tool} at work.",
            ]),
        ];
        let keep = rng.range(2, 3) as usize;
        // The duty first: it says what the job is.
        rng.shuffle(&mut facts[1..]);
        out.extend(facts[..keep].iter().map(|t| v.sentence(t)));
    }
    out.join(" ")
}

fn season_vars(i: usize) -> Vars {
    let s = &SEASONS[i];
    let mut v = Vars::new();
    v.set("season", s.name)
        .set("months", join_and(&s.months))
        .set("weather", s.weather)
        .set("events", format!("{}, and {}", s.events[0], s.events[1]))
        .set("activity", s.activity)
        .set("first", s.months[0])
        .set("last", s.months[2])
        .set("prev", SEASONS[(i + 3) % 4].name)
        .set("next", SEASONS[(i + 1) % 4].name);
    v
}

fn seasons(rng: &mut Rng) -> String {
    let mut out = vec![(*rng.pick(&[
        "There are four seasons in a year: spring, summer, autumn and winter.",
        "A year has four seasons. They are spring, summer, autumn and winter.",
    ]))
    .to_string()];
    let all = rng.chance(1, 2);
    let order: Vec<usize> = if all { (0..4).collect() } else { vec![rng.index(4)] };
    for i in order {
        let v = season_vars(i);
        let mut p = Para { v: &v, out: Vec::new() };
        p.say_one(
            rng,
            &[
                "the months of {season} are {months}.",
                "{months} are the months of {season}.",
                "{season} lasts from {first} to {last}.",
            ],
        );
        p.say_one(
            rng,
            &["in {season}, the weather is {weather}.", "the weather in {season} is {weather}."],
        );
        if !all || rng.chance(1, 2) {
            p.say_one(rng, &["in {season}, {events}.", "{season} is the time when {events}."]);
        }
        if !all {
            p.say_one(rng, &["{season} comes after {prev}.", "after {season} comes {next}."]);
            p.say("many people like to {activity} in {season}.");
        }
        out.extend(p.out);
    }
    out.join(" ")
}

fn calendar(rng: &mut Rng) -> String {
    let mut out = Vec::new();
    if rng.chance(1, 2) {
        out.push(cap(rng.pick_str(&["a week has seven days.", "there are seven days in a week."])));
        out.push(format!("They are {}.", join_and(&DAYS)));
        for i in rng.sample(&(0..7).collect::<Vec<usize>>(), 3) {
            let t = *rng.pick(&[
                "{day} is the {ord} day of the week.",
                "after {day} comes {next}.",
                "the day before {day} is {prev}.",
            ]);
            let mut v = Vars::new();
            v.set("day", DAYS[i])
                .set("ord", ordinal(i + 1))
                .set("next", DAYS[(i + 1) % 7])
                .set("prev", DAYS[(i + 6) % 7]);
            out.push(v.sentence(t));
        }
        out.push(cap(rng.pick_str(&[
            "saturday and Sunday are the weekend.",
            "the weekend is Saturday and Sunday.",
        ])));
        if rng.chance(1, 2) {
            out.push("Children go to school from Monday to Friday.".into());
        }
    } else {
        out.push(cap(
            rng.pick_str(&["a year has twelve months.", "there are twelve months in a year."])
        ));
        let i0 = rng.index(12);
        for k in 0..rng.range(3, 5) as usize {
            let i = (i0 + k) % 12;
            let (m, days) = MONTHS[i];
            let mut v = Vars::new();
            v.set("m", m)
                .set("ord", ordinal(i + 1))
                .set("next", MONTHS[(i + 1) % 12].0)
                .set("days", num(days))
                .set("season", world::season_of(m).name);
            let t = if m == "February" && rng.chance(1, 2) {
                "February has twenty-eight days, or twenty-nine in a leap year."
            } else {
                *rng.pick(&[
                    "{m} is the {ord} month of the year.",
                    "after {m} comes {next}.",
                    "{m} has {days} days.",
                    "{m} is in {season}.",
                ])
            };
            out.push(v.sentence(t));
        }
    }
    out.join(" ")
}

fn numbers(rng: &mut Rng) -> String {
    let mut out: Vec<String> = Vec::new();
    match rng.index(4) {
        0 => {
            let to = rng.range(5, 20);
            let words: Vec<String> = (1..=to).map(num).collect();
            let digits: Vec<String> = (1..=to).map(|n| n.to_string()).collect();
            out.push(format!("Let us count from one to {}: {}.", num(to), words.join(", ")));
            out.push(format!("In digits, we write {}.", digits.join(", ")));
            let n = rng.range(1, to);
            out.push(format!("The number after {} is {}.", num(n), num(n + 1)));
        }
        1 => {
            let k = rng.range(2, 10);
            out.push(format!("This is the {} times table.", num(k)));
            for i in 1..=10 {
                out.push(cap(&format!("{} times {} is {}.", num(i), num(k), num(i * k))));
            }
            if rng.chance(1, 2) {
                let i = rng.range(1, 10);
                out.push(format!("In digits, we write {i} x {k} = {}.", i * k));
            }
        }
        2 => {
            out.push("Here are some sums.".into());
            for _ in 0..rng.range(3, 6) {
                let (x, y) = (rng.range(0, 10), rng.range(0, 10));
                let (l, r, result, word, sign) = if rng.chance(1, 2) {
                    (x, y, x + y, "plus", "+")
                } else {
                    (x.max(y), x.min(y), x.max(y) - x.min(y), "minus", "-")
                };
                out.push(cap(&format!("{} {word} {} is {}.", num(l), num(r), num(result))));
                if rng.chance(1, 3) {
                    out.push(format!("We can write this as {l} {sign} {r} = {result}."));
                }
            }
        }
        _ => {
            out.push("Numbers can be odd or even.".into());
            out.push("An even number can be split into two equal groups.".into());
            let evens: Vec<String> = (1..=5).map(|i| num(2 * i)).collect();
            let odds: Vec<String> = (0..5).map(|i| num(2 * i + 1)).collect();
            out.push(cap(&format!("{} are even numbers.", join_and(&evens))));
            out.push(cap(&format!("{} are odd numbers.", join_and(&odds))));
            let h = rng.range(2, 10);
            out.push(cap(&format!(
                "{} is an even number, because it is two groups of {}.",
                num(2 * h),
                num(h)
            )));
            let o = 2 * rng.range(1, 9) + 1;
            out.push(cap(&format!("{} is an odd number.", num(o))));
        }
    }
    out.join(" ")
}

fn shapes_and_time(rng: &mut Rng) -> String {
    let mut out = Vec::new();
    if rng.chance(1, 2) {
        out.push(
            (*rng.pick(&["There are many shapes.", "Let us learn about shapes."])).to_string(),
        );
        for &(name, sides) in rng.sample(SHAPES, 4).iter() {
            if sides == 0 {
                out.push("A circle has no corners and no straight sides.".into());
            } else if rng.chance(1, 2) {
                out.push(format!("{} has {} sides.", cap(&a(name)), num(sides)));
            } else {
                out.push(format!(
                    "{} has {} sides and {} corners.",
                    cap(&a(name)),
                    num(sides),
                    num(sides)
                ));
            }
        }
        if rng.chance(1, 2) {
            out.push("A square has four equal sides.".into());
        }
    } else {
        out.push(
            (*rng.pick(&["We measure time in many units.", "Let us learn about time."]))
                .to_string(),
        );
        for u in rng.sample(&UNITS.iter().collect::<Vec<_>>(), 4) {
            let t = if rng.chance(1, 2) {
                format!("There are {} {} in {}.", num(u.count), u.small, u.big)
            } else {
                format!("{} has {} {}.", cap(u.big), num(u.count), u.small)
            };
            out.push(t);
        }
    }
    out.join(" ")
}

fn household(rng: &mut Rng) -> String {
    let mut out = vec![rng
        .pick_str(&[
            "Every home has useful things in it.",
            "Let us learn about temperature and some useful things at home.",
            "Here are some facts about everyday things.",
        ])
        .to_string()];
    if rng.chance(1, 2) {
        out.push("Temperature tells us how hot or cold something is.".into());
        out.push(
            rng.pick_str(&[
                "We measure it with a thermometer, in degrees Celsius.",
                "A thermometer shows the temperature in degrees Celsius.",
            ])
            .into(),
        );
    }
    let n = rng.range(3, 5) as usize;
    let mut facts: Vec<&str> = rng.sample(HOUSEHOLD, n).iter().map(|&(_, a)| a).collect();
    if rng.chance(1, 2) {
        facts.push(rng.pick(REASONS).2);
    }
    rng.shuffle(&mut facts);
    out.extend(facts.into_iter().map(String::from));
    out.join(" ")
}

fn words(rng: &mut Rng) -> String {
    let mut out = Vec::new();
    if rng.chance(1, 2) {
        out.push(
            (*rng.pick(&[
                "Here are some words and what they mean.",
                "Let us learn some new words.",
            ]))
            .to_string(),
        );
        let n = rng.range(3, 5) as usize;
        for &(_, _, def) in rng.sample(DEFINITIONS, n).iter() {
            out.push(def.to_string());
        }
    } else {
        out.push(
            (*rng.pick(&["Many words have opposites.", "Let us learn some opposites."]))
                .to_string(),
        );
        let n = rng.range(3, 6) as usize;
        for &(x, y) in rng.sample(OPPOSITES, n).iter() {
            let t = *rng.pick(&[
                "The opposite of {x} is {y}.",
                "{X} is the opposite of {y}.",
                "{X} and {y} are opposites.",
            ]);
            out.push(t.replace("{X}", &cap(x)).replace("{x}", x).replace("{y}", y));
        }
    }
    out.join(" ")
}
