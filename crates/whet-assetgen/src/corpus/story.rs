//! Short stories: one or two named characters, a place, the time of day and the weather, told in
//! three to ten simple past-tense sentences with consistent pronouns and plain causal links
//! ("Because it was raining, Mara took her umbrella.").
//!
//! Each plot is a fixed skeleton with optional sentences, so stories vary in length and detail
//! but always make sense. Facts that appear in stories (what a fox eats, where owls live, what a
//! baker does) come from `world.rs`, like everywhere else.

use crate::names;
use crate::rng::Rng;
use crate::text::{a, join_and, Gender, Person, Vars};
use crate::world::{Animal, Group, ANIMALS, DAYS, JOBS, SEASONS};

pub const TIMES: &[&str] = &["morning", "afternoon", "evening"];

/// Colours for things whose colour is not a fact of the world (kites, scarves, doors).
pub const FREE_COLOURS: &[&str] =
    &["red", "blue", "green", "yellow", "orange", "purple", "brown", "white", "black", "grey"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum W {
    Rain,
    Snow,
    Sun,
    Wind,
    Fog,
    Frost,
}

struct Weather {
    kind: W,
    /// "rainy": "It was a rainy morning."
    adj: &'static str,
    /// What the character wears or does because of it.
    gear: &'static [&'static str],
    /// What happens between the two characters because of it.
    together: &'static [&'static str],
    /// A sentence of scenery.
    scene: &'static [&'static str],
    /// Seasons (indices into `SEASONS`) it can happen in.
    seasons: &'static [usize],
}

const WEATHERS: &[Weather] = &[
    Weather {
        kind: W::Rain,
        adj: "rainy",
        gear: &[
            "because it was raining, {A} took {his} umbrella.",
            "it was raining, so {he} put on {his} boots and took {his} umbrella.",
            "{A} took {his} umbrella because it was raining.",
        ],
        together: &[
            "{B} had forgotten {his2} umbrella, so {A} shared {his} umbrella with {him2}.",
            "because the rain was so heavy, they waited under a tree until it stopped.",
        ],
        scene: &["the streets were wet and grey.", "the rain tapped on the roofs."],
        seasons: &[0, 2],
    },
    Weather {
        kind: W::Snow,
        adj: "snowy",
        gear: &[
            "because it was snowing, {A} put on {his} warm coat and {his} scarf.",
            "it was snowing, so {he} wore {his} boots and a woolly hat.",
        ],
        together: &[
            "{A} and {B} threw snowballs at each other and laughed.",
            "the path was icy, so {B} held {A}'s arm as they walked.",
        ],
        scene: &[
            "the roofs and the trees were white with snow.",
            "everything was quiet under the snow.",
        ],
        seasons: &[3],
    },
    Weather {
        kind: W::Sun,
        adj: "sunny",
        gear: &[
            "the sun was shining, so {A} put on {his} hat.",
            "because it was hot and sunny, {A} took a bottle of water with {him}.",
        ],
        together: &[
            "because it was so hot, they drank cold lemonade in the shade of a tree.",
            "{B} had no hat, so {A} gave {his} spare hat to {B}.",
        ],
        scene: &["the sky was blue and clear.", "the birds were singing in the warm air."],
        seasons: &[0, 1],
    },
    Weather {
        kind: W::Wind,
        adj: "windy",
        gear: &[
            "because it was windy, {A} wore {his} thick jacket.",
            "it was very windy, so {he} held on tightly to {his} hat.",
        ],
        together: &[
            "the wind blew {B}'s hat off, and {A} ran to catch it.",
            "because the wind was so strong, they walked close together.",
        ],
        scene: &["the trees bent and swayed in the wind.", "leaves flew along the street."],
        seasons: &[2],
    },
    Weather {
        kind: W::Fog,
        adj: "foggy",
        gear: &[
            "it was foggy, so {A} walked slowly and carefully.",
            "because it was foggy, {A} could not see very far.",
        ],
        together: &[
            "{B} was lost in the fog, so {A} walked with {him2} to the end of the road.",
            "because of the fog, they stayed close to each other.",
        ],
        scene: &["the houses looked grey and soft in the fog.", "the street lamps were still on."],
        seasons: &[2, 3],
    },
    Weather {
        kind: W::Frost,
        adj: "cold",
        gear: &[
            "because it was cold, {A} put on {his} gloves.",
            "it was a cold day, so {he} wore {his} warmest coat.",
        ],
        together: &[
            "{B} was shivering, so {A} gave {him2} a cup of hot tea from {his} flask.",
            "because their hands were cold, they walked quickly to keep warm.",
        ],
        scene: &["there was frost on the grass.", "the air was sharp and cold."],
        seasons: &[3],
    },
];

struct Errand {
    place: &'static str,
    goal: &'static str,
    /// What happens there.
    done: &'static [&'static str],
    /// Weathers it makes sense in (empty: any).
    weathers: &'static [W],
}

const ERRANDS: &[Errand] = &[
    Errand {
        place: "the market",
        goal: "buy some apples and a loaf of bread",
        done: &[
            "at the market, {he} bought six apples and a fresh loaf of bread.",
            "{he} filled {his} basket with apples and bread.",
        ],
        weathers: &[],
    },
    Errand {
        place: "the bakery",
        goal: "buy a cake for {his} grandmother's birthday",
        done: &[
            "at the bakery, the baker gave {him} a round cake with cherries on top.",
            "{he} chose a chocolate cake with white cream.",
        ],
        weathers: &[],
    },
    Errand {
        place: "the library",
        goal: "borrow a book about {animals}",
        done: &[
            "at the library, {he} found a big book full of pictures of {animals}.",
            "the librarian helped {him} find a book about {animals}.",
        ],
        weathers: &[],
    },
    Errand {
        place: "the post office",
        goal: "send a letter to {his} uncle",
        done: &["at the post office, {he} bought a stamp and posted the letter."],
        weathers: &[],
    },
    Errand {
        place: "the shop",
        goal: "buy milk, butter and eggs",
        done: &["{he} bought everything and put the milk, the butter and the eggs in {his} bag."],
        weathers: &[],
    },
    Errand {
        place: "the park",
        goal: "fly {his} new kite",
        done: &["at the park, {he} ran across the grass, and the kite rose high into the sky."],
        weathers: &[W::Sun, W::Wind],
    },
    Errand {
        place: "the river",
        goal: "watch the boats",
        done: &["{he} sat on a bench by the water and watched the boats sail past."],
        weathers: &[W::Sun, W::Wind, W::Fog, W::Frost],
    },
    Errand {
        place: "the beach",
        goal: "build a sandcastle",
        done: &["at the beach, {he} built a tall sandcastle with a deep moat around it."],
        weathers: &[W::Sun],
    },
    Errand {
        place: "the farm",
        goal: "buy some eggs from the farmer",
        done: &["at the farm, the farmer gave {him} a box of twelve eggs from the hens."],
        weathers: &[],
    },
    Errand {
        place: "the big hill behind the town",
        goal: "ride {his} sledge",
        done: &["{he} rode {his} sledge down the hill again and again."],
        weathers: &[W::Snow],
    },
];

const ADJECTIVES: &[&str] =
    &["kind", "clever", "cheerful", "curious", "quiet", "busy", "brave", "friendly"];

/// A relation for the second character, matching their gender.
fn relation(rng: &mut Rng, gender: Gender) -> &'static str {
    match gender {
        Gender::Female => rng.pick_str(&["friend", "sister", "cousin", "neighbour", "friend"]),
        Gender::Male => rng.pick_str(&["friend", "brother", "cousin", "neighbour", "friend"]),
    }
}

/// A family member to go home to, with no name, and the pronoun for them.
const FAMILY: &[(&str, &str)] = &[
    ("mother", "she"),
    ("father", "he"),
    ("grandmother", "she"),
    ("grandfather", "he"),
    ("family", "they"),
    ("parents", "they"),
];

const ENDINGS: &[&str] = &[
    "when {A} got home, {he} was tired but happy.",
    "in the evening, {A} told {his} {family} about {his} day.",
    "that night, {A} slept well because {he} was very tired.",
    "{A} thought that it had been a very good day.",
    "{A} smiled all evening.",
];

fn cast(rng: &mut Rng) -> (Person, Person, Vars) {
    let first = names::person(rng);
    let second = names::other_person(rng, &first);
    let mut v = Vars::new();
    v.first(&first).second(&second);
    let rel = relation(rng, second.gender);
    let &(family, family_pronoun) = rng.pick(FAMILY);
    v.set("rel", rel)
        .set("time", *rng.pick(TIMES))
        .set("day", *rng.pick(&DAYS))
        .set("family", family)
        .set("fam_he", family_pronoun)
        .set("Town", names::town(rng))
        .set("a_adj", a(rng.pick_str(ADJECTIVES)))
        .set("kid", kid_noun(rng, first.gender));
    (first, second, v)
}

fn kid_noun(rng: &mut Rng, g: Gender) -> &'static str {
    match g {
        Gender::Female => rng.pick_str(&["girl", "girl", "woman"]),
        Gender::Male => rng.pick_str(&["boy", "boy", "man"]),
    }
}

/// Sentences under construction: `say` fills and capitalises a template.
struct Story<'a> {
    v: &'a Vars,
    out: Vec<String>,
}

impl Story<'_> {
    fn say(&mut self, template: &str) {
        self.out.push(self.v.sentence(template));
    }
    fn say_one(&mut self, rng: &mut Rng, templates: &[&str]) {
        let t = *rng.pick(templates);
        self.say(t);
    }
}

pub fn generate(rng: &mut Rng) -> String {
    let plots: &[fn(&mut Rng) -> Vec<String>] =
        &[errand, lost_thing, animal_meeting, visit_worker, season_day, kindness];
    let plot = plots[rng.weighted(&[5, 3, 4, 2, 3, 2])];
    plot(rng).join(" ")
}

fn pick_weather(rng: &mut Rng, allowed: &[W]) -> &'static Weather {
    loop {
        let w = rng.pick(WEATHERS);
        if allowed.is_empty() || allowed.contains(&w.kind) {
            return w;
        }
    }
}

fn errand(rng: &mut Rng) -> Vec<String> {
    let (_, _, mut v) = cast(rng);
    let e = rng.pick(ERRANDS);
    let w = pick_weather(rng, e.weathers);
    let creature = rng.pick(ANIMALS);
    v.set("place", e.place)
        .set("animals", creature.pl)
        .set("foods", join_and(creature.foods))
        .set("home", creature.home)
        .set("wadj", w.adj)
        .set("season", SEASONS[*rng.pick(w.seasons)].name);
    let goal = v.fill(e.goal);
    v.set("goal", goal);
    let mut s = Story { v: &v, out: Vec::new() };
    match rng.index(4) {
        0 => s.say("one {time}, {A} went to {place} to {goal}."),
        1 => {
            s.say("{A} lived in a small town called {Town}.");
            s.say("one {day} {time}, {he} went to {place} to {goal}.");
        }
        2 => s.say(
            "it was a {wadj} {season} {time} in {Town}, and {A} wanted to go to {place} to {goal}.",
        ),
        _ => {
            s.say("once upon a time, there was {a_adj} {kid} called {A}.");
            s.say("one {wadj} {time}, {he} decided to go to {place} to {goal}.");
        }
    }
    let gear = *rng.pick(w.gear);
    s.say(gear);
    if rng.chance(1, 2) {
        let scene = *rng.pick(w.scene);
        s.say(scene);
    }
    let done = *rng.pick(e.done);
    s.say(done);
    if e.place == "the library" && rng.chance(2, 3) {
        s.say("in the book, {he} read that {animals} eat {foods}.");
    }
    if rng.chance(3, 4) {
        s.say_one(
            rng,
            &["there {he} met {his} {rel} {B}.", "on the way home, {he} met {his} {rel} {B}."],
        );
        let together = *rng.pick(w.together);
        s.say(together);
        if rng.chance(1, 2) {
            s.say_one(
                rng,
                &[
                    "{B} thanked {A}, and they walked home together.",
                    "{A} and {B} talked and laughed together for a while.",
                    "{B} said goodbye and went to see {his2} {family}.",
                ],
            );
        }
    }
    s.say_one(rng, ENDINGS);
    s.out
}

const THINGS: &[&str] =
    &["kite", "ball", "hat", "scarf", "book", "toy boat", "notebook", "bag", "umbrella"];
const INDOOR_SPOTS: &[&str] = &[
    "under the bed",
    "behind the door",
    "in the kitchen",
    "under the stairs",
    "on every shelf",
    "in the cupboard",
    "behind the sofa",
];
const LOST_PLACES: &[(&str, &[&str])] = &[
    ("the park", &["under a bench", "next to a tree", "by the gate"]),
    ("the beach", &["next to a big rock", "on the sand near the water"]),
    ("school", &["in the classroom", "on a hook by the door"]),
    ("{his} grandmother's house", &["on a chair in the hall", "under the kitchen table"]),
    ("the library", &["on a table near the window", "at the front desk"]),
];

fn lost_thing(rng: &mut Rng) -> Vec<String> {
    let (_, _, mut v) = cast(rng);
    let thing = *rng.pick(THINGS);
    let colour = *rng.pick(FREE_COLOURS);
    let spots = rng.sample(INDOOR_SPOTS, 3);
    let &(place, found_at) = rng.pick(LOST_PLACES);
    let place = v.fill(place);
    v.set("thing", thing)
        .set("a_thing", a(&format!("{colour} {thing}")))
        .set("spots", join_and(&spots))
        .set("place", place)
        .set("spot", *rng.pick(found_at));
    let mut s = Story { v: &v, out: Vec::new() };
    s.say_one(
        rng,
        &[
            "{A} had {a_thing} that {he} loved very much.",
            "{A}'s favourite thing was {his} {thing}.",
        ],
    );
    s.say("one {time}, {he} could not find it anywhere.");
    if rng.chance(3, 4) {
        s.say("{he} looked {spots}, but the {thing} was not there.");
    }
    s.say_one(rng, &["{A} felt sad and worried.", "{A} was so sad that {he} almost cried."]);
    s.say_one(
        rng,
        &["then {his} {rel} {B} came to help.", "then {B}, {his} {rel}, asked what was wrong."],
    );
    if rng.chance(1, 2) {
        s.say("{B} asked, \"Where did you last see it?\"");
    }
    s.say("{A} remembered that {he} had taken it to {place} the day before.");
    s.say("so {A} and {B} went to {place} together.");
    s.say("there was the {thing}, {spot}!");
    s.say_one(
        rng,
        &["{A} was so happy that {he} hugged {B}.", "{A} thanked {B} with a big smile."],
    );
    if rng.chance(1, 2) {
        s.say("after that, {A} always kept the {thing} in a safe place.");
    }
    s.out
}

/// How an animal leaves.
fn leaves(x: &Animal) -> &'static str {
    match (x.class, x.group, x.place) {
        ("bird" | "insect", _, _) => "flew away",
        (_, Group::Water, _) => "swam away",
        (_, Group::Wild, _) => "walked slowly to the other side of its enclosure",
        (_, Group::Farm, _) => "walked back to the barn",
        (_, _, "the garden") => "jumped over the fence",
        (_, _, "the park") => "ran off across the grass",
        (_, _, "the field") => "ran off into the long grass",
        _ => "ran off into the trees",
    }
}

fn animal_meeting(rng: &mut Rng) -> Vec<String> {
    let (_, _, mut v) = cast(rng);
    let x = rng.pick(ANIMALS);
    v.set("sg", x.sg)
        .set("pl", x.pl)
        .set("a_sg", a(x.sg))
        .set("food", *rng.pick(x.foods))
        .set("foods", join_and(x.foods))
        .set("home", x.home)
        .set("place", x.place)
        .set("leave", leaves(x))
        .set("adv", *rng.pick(&["loudly", "softly", "twice", "again and again"]));
    if let Some(sound) = x.sound {
        v.set("sound", sound.past);
    }
    let mut s = Story { v: &v, out: Vec::new() };
    match x.place {
        "the zoo" => s.say("one {day}, {A} and {his} {rel} {B} visited the zoo."),
        "the sea" => s.say("one {time}, {A} went out on a boat on the sea with {his} {rel} {B}."),
        _ => s.say_one(
            rng,
            &[
                "one {time}, {A} went for a walk to {place}.",
                "{A} liked to walk to {place} after school.",
            ],
        ),
    }
    if x.place != "the zoo" && x.place != "the sea" && rng.chance(1, 2) {
        let w = pick_weather(rng, &[]);
        let gear = *rng.pick(w.gear);
        s.say(gear);
    }
    if x.sound.is_some() && rng.chance(2, 3) {
        s.say("suddenly, {he} heard a sound.");
        s.say("it was {a_sg}, and it {sound} {adv}.");
    } else {
        s.say("there {he} saw {a_sg}.");
    }
    if x.place == "the zoo" {
        s.say("a keeper was giving the {sg} some {food}.");
    } else {
        s.say("the {sg} was looking for {food}.");
    }
    if rng.chance(3, 5) {
        s.say("{A} knew that {pl} eat {foods}, because {he} had read about them in a book.");
    }
    s.say_one(
        rng,
        &[
            "{he} stood very still and watched it for a long time.",
            "{A} did not want to scare it, so {he} kept very quiet.",
        ],
    );
    s.say("then the {sg} {leave}.");
    if x.place == "the zoo" || x.place == "the sea" {
        s.say("{B} said that {pl} live {home}.");
    } else if rng.chance(2, 3) {
        s.say("{A} ran home to tell {his} {family} about the {sg}.");
        if rng.chance(1, 2) {
            s.say("{fam_he} smiled and said that {pl} live {home}.");
        }
    }
    if rng.chance(1, 2) {
        s.say_one(rng, ENDINGS);
    }
    s.out
}

fn visit_worker(rng: &mut Rng) -> Vec<String> {
    let (_, second, mut v) = cast(rng);
    // "fisherman" and "postman" only for men.
    let job = loop {
        let job = rng.pick(JOBS);
        if second.gender == Gender::Male || !job.name.ends_with("man") {
            break job;
        }
    };
    let kin = match second.gender {
        Gender::Female => *rng.pick(&["aunt", "grandmother", "mother", "neighbour"]),
        Gender::Male => *rng.pick(&["uncle", "grandfather", "father", "neighbour"]),
    };
    v.set("kin", kin)
        .set("job", job.name)
        .set("a_job", a(job.name))
        .set("does", job.does)
        .set("place", job.place)
        .set("tool", job.tool);
    let mut s = Story { v: &v, out: Vec::new() };
    s.say("{A}'s {kin} {B} was {a_job}.");
    s.say("{a_job} {does}, and {B} loved {his2} work.");
    s.say_one(
        rng,
        &[
            "one {day}, {A} went to work with {him2}.",
            "during the holidays, {A} spent a whole day with {him2} at work.",
        ],
    );
    if rng.chance(1, 2) {
        s.say("{B} works {place}, so that is where they went.");
    }
    s.say("{B} showed {A} how to use {tool}.");
    if rng.chance(1, 2) {
        s.say("{B} said, \"Every {job} needs {tool}.\"");
    }
    s.say("{A} helped {him2} all day and asked many questions.");
    s.say_one(
        rng,
        &[
            "by the evening, {A} was tired but proud.",
            "at the end of the day, {A} felt proud of {himself}.",
        ],
    );
    if rng.chance(2, 3) {
        s.say("{he} told {B} that {he} wanted to be {a_job} one day.");
    }
    s.out
}

/// What characters do in each season, continuing `Season::activity`.
const SEASON_DETAILS: [&[&str]; 4] = [
    &[
        "they dug small holes and put a seed in each one.",
        "they gave the seeds some water and waited.",
    ],
    &[
        "the water was cool and clear, and they swam until lunch.",
        "afterwards they sat on the grass to dry in the sun.",
    ],
    &[
        "they filled a big basket with red and brown leaves.",
        "they jumped into a pile of leaves and laughed.",
    ],
    &[
        "they gave the snowman a carrot for a nose and two stones for eyes.",
        "they put an old hat on its head.",
    ],
];

fn season_day(rng: &mut Rng) -> Vec<String> {
    let (_, _, mut v) = cast(rng);
    let i = rng.index(4);
    let season = &SEASONS[i];
    let other = &SEASONS[(i + 1 + rng.index(3)) % 4];
    v.set("season", season.name)
        .set("events", format!("{}, and {}", season.events[0], season.events[1]))
        .set("weather", season.weather)
        .set("activity", season.activity)
        .set("other", other.name)
        .set("other_weather", other.weather)
        .set("month", *rng.pick(&season.months));
    let mut s = Story { v: &v, out: Vec::new() };
    s.say_one(rng, &["it was {season}.", "it was a {day} in {month}, in the middle of {season}."]);
    if rng.chance(1, 2) {
        s.say("in {season}, {events}.");
    }
    s.say("because the weather was {weather}, {A} and {his} {rel} {B} decided to {activity}.");
    for detail in SEASON_DETAILS[i] {
        if rng.chance(2, 3) {
            s.say(detail);
        }
    }
    s.say("{B} said that {season} was {his2} favourite season.");
    if rng.chance(2, 3) {
        s.say(concat!(
            "{A} said that {he} liked {other} best, ",
            "because in {other} the weather is {other_weather}."
        ));
    }
    s.say_one(
        rng,
        &[
            "when it got dark, they went home for dinner.",
            "in the evening, they went home tired and happy.",
        ],
    );
    s.out
}

const GIFTS: &[&str] = &[
    "a jar of honey",
    "a slice of apple pie",
    "a bag of cherries",
    "a warm scarf",
    "some fresh bread",
];

fn kindness(rng: &mut Rng) -> Vec<String> {
    let (_, _, mut v) = cast(rng);
    let old_gender = if rng.chance(1, 2) { Gender::Female } else { Gender::Male };
    let old = Person {
        name: if old_gender == Gender::Female { "the old woman" } else { "the old man" }
            .to_string(),
        gender: old_gender,
    };
    v.second(&old);
    v.set("gift", *rng.pick(GIFTS)).set(
        "street",
        *rng.pick(&[
            "near the river",
            "at the end of the street",
            "behind the church",
            "next to the park",
        ]),
    );
    let mut s = Story { v: &v, out: Vec::new() };
    s.say(
        "one {time}, {A} saw an old {old} who was carrying a heavy bag."
            .replace("{old}", if old_gender == Gender::Female { "woman" } else { "man" })
            .as_str(),
    );
    s.say("because the bag was so heavy, {B} had to stop every few steps.");
    s.say("{A} asked, \"Can I help you carry that?\"");
    s.say("{B} smiled and said, \"Thank you, that is very kind.\"");
    s.say("{A} carried the bag all the way to {B}'s house {street}.");
    if rng.chance(1, 2) {
        s.say("to thank {A}, {B} gave {him} {gift}.");
    }
    // Named, not "she": the old woman may be a "she" too.
    s.say_one(
        rng,
        &["{A} walked home feeling warm and happy.", "{A} was glad that {he} had helped."],
    );
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::word_count;

    #[test]
    fn stories_have_three_to_ten_sentences() {
        let mut rng = Rng::new(9);
        for _ in 0..2000 {
            let t = generate(&mut rng);
            let sentences = t.matches(['.', '!', '?']).count() - t.matches(".\"").count();
            assert!((3..=12).contains(&sentences), "{sentences}: {t}");
            assert!(word_count(&t) >= 20, "{t}");
            assert!(!t.contains('{'), "{t}");
        }
    }
}
