//! Descriptive paragraphs in the present tense: a room, a market, a town, a place in nature.
//!
//! Colours of things whose colour is a world fact (bananas, tomatoes, tree trunks) come from
//! `world::COLOURED`; only furniture, doors and the like get free colours.

use super::story::FREE_COLOURS;
use crate::names;
use crate::rng::Rng;
use crate::text::{a, cap, join_and, num, Vars};
use crate::world;
use crate::world::{Animal, COLOURED, DAYS, JOBS, SEASONS};

pub fn generate(rng: &mut Rng) -> String {
    let kinds: &[fn(&mut Rng) -> String] = &[room, market, town, nature];
    kinds[rng.weighted(&[3, 2, 3, 3])](rng)
}

struct Room {
    name: &'static str,
    adjectives: &'static [&'static str],
    /// Furniture with where it stands; `{c}` is a free colour.
    things: &'static [&'static str],
    activity: &'static [&'static str],
}

const ROOMS: &[Room] = &[
    Room {
        name: "kitchen",
        adjectives: &["warm", "bright", "small", "busy", "clean"],
        things: &[
            "there is a wooden table in the middle of the room.",
            "a big oven stands against the wall.",
            "there is a sink under the window.",
            "the shelves are full of jars of jam and honey.",
            "{a_c} kettle sits on the stove.",
            "a clock hangs above the door.",
        ],
        activity: &["cook a meal", "have breakfast", "bake bread"],
    },
    Room {
        name: "bedroom",
        adjectives: &["quiet", "small", "tidy", "cosy"],
        things: &[
            "there is a bed with {a_c} blanket.",
            "a small desk stands under the window.",
            "there is a lamp next to the bed.",
            "a shelf on the wall is full of books.",
            "a soft {c} rug lies on the floor.",
        ],
        activity: &["read a book", "rest after a long day", "sleep"],
    },
    Room {
        name: "classroom",
        adjectives: &["large", "bright", "busy", "tidy"],
        things: &[
            "there are rows of desks and chairs.",
            "the teacher writes on a whiteboard at the front.",
            "a map of the world hangs on the wall.",
            "there is a clock above the door.",
            "the children's paintings are pinned to {a_c} board.",
        ],
        activity: &["learn new things", "read and write"],
    },
    Room {
        name: "living room",
        adjectives: &["warm", "cosy", "large", "quiet"],
        things: &[
            "there is a soft {c} sofa.",
            "a fire burns in the fireplace.",
            "plants in pots stand by the window.",
            "there is a low table with a pile of books on it.",
            "{a_c} lamp gives a soft light.",
        ],
        activity: &["sit and talk", "read a book", "play games with friends"],
    },
];

const FRUIT_BOWLS: &[&str] = &["apples", "oranges", "plums", "bananas", "lemons", "cherries"];

fn room(rng: &mut Rng) -> String {
    let r = rng.pick(ROOMS);
    let owner = names::person(rng);
    let adj = rng.sample(r.adjectives, 2);
    let colour = rng.pick_str(FREE_COLOURS);
    let mut v = Vars::new();
    v.set("room", r.name)
        .set("A", owner.name.as_str())
        .set("adj", join_and(&adj))
        .set("c", colour)
        .set("a_c", a(colour))
        .set("walls", *rng.pick(FREE_COLOURS))
        .set("fruit", *rng.pick(FRUIT_BOWLS))
        .set("activity", *rng.pick(r.activity));
    let mut out = vec![v.sentence(rng.pick_str(&[
        "the {room} in {A}'s house is {adj}.",
        "{A}'s {room} is {adj}.",
        "this is the {room}. It is {adj}.",
    ]))];
    let n = rng.range(2, r.things.len().min(4) as u32) as usize;
    for t in rng.sample(r.things, n) {
        out.push(v.sentence(t));
    }
    if matches!(r.name, "kitchen" | "living room") && rng.chance(1, 2) {
        out.push(v.sentence("there is a bowl of {fruit} on the table."));
    }
    out.push(v.sentence(rng.pick_str(&[
        "sunlight comes in through the window.",
        "in the evening, a lamp gives a soft yellow light.",
        "the walls are painted {walls}.",
    ])));
    out.push(v.sentence("it is a good place to {activity}."));
    out.join(" ")
}

/// Market goods whose colour is a world fact.
const MARKET_GOODS: &[&str] = &[
    "tomatoes",
    "strawberries",
    "cherries",
    "bananas",
    "lemons",
    "carrots",
    "oranges",
    "pumpkins",
    "limes",
    "plums",
    "blueberries",
];

fn market(rng: &mut Rng) -> String {
    let mut v = Vars::new();
    v.set("Town", names::town(rng)).set("day", *rng.pick(&DAYS));
    let goods = rng.sample(MARKET_GOODS, 3);
    let mut out = vec![v.sentence(rng.pick_str(&[
        "the market in {Town} is open every {day}.",
        "every {day}, there is a market in the square of {Town}.",
    ]))];
    out.push("Early in the morning, the sellers set up their stalls.".into());
    out.push(cap(&format!("one stall sells {}.", join_and(&goods))));
    // Their colours, from the world table.
    let coloured: Vec<String> = goods
        .iter()
        .filter_map(|g| COLOURED.iter().find(|c| c.thing == *g))
        // Not "the oranges are orange".
        .filter(|c| !c.thing.starts_with(c.colour))
        .map(|c| format!("the {} are {}", c.thing, c.colour))
        .collect();
    if coloured.len() >= 2 {
        out.push(cap(&format!("{}.", join_and(&coloured[..2]).replacen(" and ", ", and ", 1))));
    }
    let extra: &[&str] = &[
        "another stall sells cheese, butter and yogurt.",
        "the baker sells fresh bread and cakes.",
        "a farmer sells eggs from the farm's hens and milk from the farm's cows.",
        "a beekeeper sells honey from the bees.",
        "one seller has a big pile of pumpkins.",
    ];
    for t in rng.sample(extra, 2) {
        out.push(cap(t));
    }
    out.push(cap(rng.pick_str(&[
        "the air smells of fresh bread and ripe fruit.",
        "people walk between the stalls with baskets and bags.",
        "the sellers call out their prices, and children run between the stalls.",
    ])));
    out.push("By the afternoon, the sellers pack up their stalls and go home.".into());
    out.join(" ")
}

const PLACES_IN_TOWN: &[&str] = &[
    "a school",
    "a library",
    "a bakery",
    "a post office",
    "a small hospital",
    "a fire station",
    "a market",
    "a park",
    "a church",
];

fn town(rng: &mut Rng) -> String {
    let name = names::town(rng);
    let (location, extra) = *rng.pick(&[
        ("near a river", "a stone bridge crosses the river in the middle of the town."),
        ("by the sea", "fishermen go out in their boats every morning to catch fish."),
        ("at the foot of a mountain", "in winter, snow covers the top of the mountain."),
        ("in a green valley", "farmers grow crops in the fields around the town."),
    ]);
    let season_i = rng.index(4);
    let festival = [
        "hold a flower show in the square",
        "have a picnic in the park",
        "celebrate the harvest with a big meal",
        "put up lights in the streets",
    ][season_i];
    let people = 500 * rng.range(2, 12);
    let n_places = rng.range(3, 4) as usize;
    let places = rng.sample(PLACES_IN_TOWN, n_places);
    let jobs = rng.sample(JOBS, 2);
    let mut v = Vars::new();
    v.set("Town", name.as_str())
        .set("location", location)
        .set("people", num(people))
        .set("places", join_and(&places))
        .set(
            "square",
            *rng.pick(&[
                "a fountain",
                "an old clock tower",
                "a big oak tree",
                "a statue of a horse",
            ]),
        )
        .set("jobs", join_and(&jobs.iter().map(|j| j.pl).collect::<Vec<_>>()))
        .set("season", SEASONS[season_i].name)
        .set("festival", festival);
    let mut out = vec![v.sentence("{Town} is a small town {location}.")];
    let mut middle = vec![
        v.sentence("about {people} people live there."),
        v.sentence("it has {places}."),
        v.sentence("in the middle of the town, there is a square with {square}."),
        v.sentence("many people in {Town} work as {jobs}."),
        v.sentence("every {season}, the people of {Town} {festival}."),
        cap(extra),
    ];
    rng.shuffle(&mut middle[1..]);
    let keep = rng.range(3, middle.len() as u32) as usize;
    out.extend(middle.into_iter().take(keep));
    out.push(v.sentence(rng.pick_str(&[
        "{Town} is a quiet and friendly place.",
        "people say that {Town} is a good place to live.",
    ])));
    out.join(" ")
}

fn nature(rng: &mut Rng) -> String {
    type Scene = (&'static str, &'static [&'static str], &'static [&'static str]);
    const SCENES: &[Scene] = &[
        (
            "the forest",
            &["the forest is dark and quiet.", "the forest is full of tall trees."],
            &[
                "tall trees grow close together, and their trunks are brown.",
                "the ground is soft with moss and old leaves.",
                "a small path winds between the trees.",
            ],
        ),
        (
            "the pond",
            &["the pond is small and still.", "there is a pond at the bottom of the field."],
            &[
                "reeds grow along the edge of the water.",
                "the water is clear and cool.",
                "a wooden bench stands beside the pond.",
            ],
        ),
        (
            "the garden",
            &["the garden is full of flowers.", "behind the house there is a large garden."],
            &[
                "there are roses by the wall and vegetables in neat rows.",
                "an apple tree stands in the corner.",
                "a path of flat stones leads to the gate.",
            ],
        ),
        (
            "the farm",
            &[
                "the farm lies at the end of a long road.",
                "the farm has a big red barn and green fields.",
            ],
            &[
                "a tractor stands in the yard.",
                "the fields are full of wheat.",
                "a farmer is mending a fence.",
            ],
        ),
        (
            "the field",
            &["the field is wide and green.", "beyond the village there is a wide field."],
            &[
                "long grass moves in the wind.",
                "a stone wall runs along one side.",
                "wild flowers grow near the path.",
            ],
        ),
    ];
    let (place, intro, scenery) = *rng.pick(SCENES);
    let animals: Vec<&Animal> = world::ANIMALS.iter().filter(|a| a.place == place).collect();
    let mut out = vec![cap(rng.pick_str(intro))];
    let n = rng.range(1, 2) as usize;
    for t in rng.sample(scenery, n) {
        out.push(cap(t));
    }
    let k = rng.range(1, animals.len().min(3) as u32) as usize;
    let templates = rng.sample(
        &[
            "if you are quiet, you might see {a_sg} looking for {food}.",
            "{pl} live {home}, and you can often see them here.",
            "here you can see {pl}, which eat {foods}.",
        ],
        3,
    );
    for (x, t) in rng.sample(&animals, k).into_iter().zip(templates) {
        let mut v = super::qa::animal_vars(x);
        v.set("food", *rng.pick(x.foods)).set("place", place);
        out.push(v.sentence(t));
        if let Some(s) = x.sound {
            if rng.chance(1, 3) {
                out.push(cap(&format!("now and then, {} {}.", a(x.sg), s.sg)));
            }
        }
    }
    let i = rng.index(4);
    let s = &SEASONS[i];
    out.push(cap(&format!("in {}, the weather here is {}.", s.name, s.weather)));
    out.join(" ")
}
