//! The fixed tables of the everyday world the corpus talks about: animals, colours, foods, jobs,
//! seasons, the calendar, shapes, units of time, opposites and word definitions.
//!
//! Every fact the corpus states is read from here and never drawn at random per sentence, so the
//! whole corpus agrees with itself (rabbits always eat grass, clover and carrots; autumn is
//! always September, October and November). A small model can then learn the facts, and the
//! chat transcripts' answers are correct by construction. Slices keep a fixed order; nothing
//! here is a hash map.

/// Where an animal belongs, for lists ("Name three farm animals.").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Farm,
    Pet,
    Forest,
    Water,
    Field,
    Garden,
    Wild,
}

#[derive(Clone, Copy, Debug)]
pub struct Sound {
    /// "moos" (a cow moos)
    pub sg: &'static str,
    /// "moo" (cows moo)
    pub pl: &'static str,
    /// "mooed"
    pub past: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct Animal {
    pub sg: &'static str,
    pub pl: &'static str,
    /// What it eats, as plural or mass nouns: "grass", "carrots".
    pub foods: &'static [&'static str],
    /// Where it lives, after "live": "on farms".
    pub home: &'static str,
    pub sound: Option<Sound>,
    pub legs: u32,
    /// What its young are called: "calf".
    pub young: &'static str,
    /// "large", "small", ...
    pub size: &'static str,
    /// "mammal", "bird", ...
    pub class: &'static str,
    pub group: Group,
    /// Where a story character can meet it: "the farm".
    pub place: &'static str,
}

const fn s(sg: &'static str, pl: &'static str, past: &'static str) -> Option<Sound> {
    Some(Sound { sg, pl, past })
}

pub const ANIMALS: &[Animal] = &[
    Animal {
        sg: "cow",
        pl: "cows",
        foods: &["grass", "hay", "clover"],
        home: "on farms",
        sound: s("moos", "moo", "mooed"),
        legs: 4,
        young: "calf",
        size: "large",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "horse",
        pl: "horses",
        foods: &["grass", "hay", "oats"],
        home: "on farms and in stables",
        sound: s("neighs", "neigh", "neighed"),
        legs: 4,
        young: "foal",
        size: "large",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "sheep",
        pl: "sheep",
        foods: &["grass", "hay"],
        home: "on farms and hills",
        sound: s("bleats", "bleat", "bleated"),
        legs: 4,
        young: "lamb",
        size: "medium-sized",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "goat",
        pl: "goats",
        foods: &["grass", "leaves", "hay"],
        home: "on farms and in the mountains",
        sound: s("bleats", "bleat", "bleated"),
        legs: 4,
        young: "kid",
        size: "medium-sized",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "pig",
        pl: "pigs",
        foods: &["vegetables", "fruit", "grain"],
        home: "on farms",
        sound: s("oinks", "oink", "oinked"),
        legs: 4,
        young: "piglet",
        size: "medium-sized",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "hen",
        pl: "hens",
        foods: &["seeds", "grain", "worms"],
        home: "on farms",
        sound: s("clucks", "cluck", "clucked"),
        legs: 2,
        young: "chick",
        size: "small",
        class: "bird",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "donkey",
        pl: "donkeys",
        foods: &["grass", "hay", "straw"],
        home: "on farms",
        sound: s("brays", "bray", "brayed"),
        legs: 4,
        young: "foal",
        size: "medium-sized",
        class: "mammal",
        group: Group::Farm,
        place: "the farm",
    },
    Animal {
        sg: "dog",
        pl: "dogs",
        foods: &["meat", "bones", "dog biscuits"],
        home: "in houses with people",
        sound: s("barks", "bark", "barked"),
        legs: 4,
        young: "puppy",
        size: "medium-sized",
        class: "mammal",
        group: Group::Pet,
        place: "the park",
    },
    Animal {
        sg: "cat",
        pl: "cats",
        foods: &["fish", "meat"],
        home: "in houses with people",
        sound: s("meows", "meow", "meowed"),
        legs: 4,
        young: "kitten",
        size: "small",
        class: "mammal",
        group: Group::Pet,
        place: "the garden",
    },
    Animal {
        sg: "duck",
        pl: "ducks",
        foods: &["seeds", "insects", "water plants"],
        home: "on ponds and rivers",
        sound: s("quacks", "quack", "quacked"),
        legs: 2,
        young: "duckling",
        size: "small",
        class: "bird",
        group: Group::Water,
        place: "the pond",
    },
    Animal {
        sg: "frog",
        pl: "frogs",
        foods: &["insects", "worms", "slugs"],
        home: "near ponds and streams",
        sound: s("croaks", "croak", "croaked"),
        legs: 4,
        young: "tadpole",
        size: "small",
        class: "amphibian",
        group: Group::Water,
        place: "the pond",
    },
    Animal {
        sg: "whale",
        pl: "whales",
        foods: &["small fish", "krill"],
        home: "in the ocean",
        sound: s("sings", "sing", "sang"),
        legs: 0,
        young: "calf",
        size: "very large",
        class: "mammal",
        group: Group::Water,
        place: "the sea",
    },
    Animal {
        sg: "rabbit",
        pl: "rabbits",
        foods: &["grass", "clover", "carrots"],
        home: "in burrows in fields",
        sound: None,
        legs: 4,
        young: "kit",
        size: "small",
        class: "mammal",
        group: Group::Field,
        place: "the field",
    },
    Animal {
        sg: "mouse",
        pl: "mice",
        foods: &["seeds", "grain", "berries"],
        home: "in fields and old barns",
        sound: s("squeaks", "squeak", "squeaked"),
        legs: 4,
        young: "pup",
        size: "very small",
        class: "mammal",
        group: Group::Field,
        place: "the field",
    },
    Animal {
        sg: "fox",
        pl: "foxes",
        foods: &["mice", "rabbits", "berries"],
        home: "in dens in the forest",
        sound: s("yelps", "yelp", "yelped"),
        legs: 4,
        young: "cub",
        size: "medium-sized",
        class: "mammal",
        group: Group::Forest,
        place: "the forest",
    },
    Animal {
        sg: "owl",
        pl: "owls",
        foods: &["mice", "insects", "small birds"],
        home: "in trees in the forest",
        sound: s("hoots", "hoot", "hooted"),
        legs: 2,
        young: "owlet",
        size: "small",
        class: "bird",
        group: Group::Forest,
        place: "the forest",
    },
    Animal {
        sg: "bear",
        pl: "bears",
        foods: &["fish", "berries", "honey"],
        home: "in caves and forests",
        sound: s("growls", "growl", "growled"),
        legs: 4,
        young: "cub",
        size: "large",
        class: "mammal",
        group: Group::Forest,
        place: "the forest",
    },
    Animal {
        sg: "wolf",
        pl: "wolves",
        foods: &["deer", "rabbits", "mice"],
        home: "in forests and mountains",
        sound: s("howls", "howl", "howled"),
        legs: 4,
        young: "pup",
        size: "large",
        class: "mammal",
        group: Group::Forest,
        place: "the forest",
    },
    Animal {
        sg: "squirrel",
        pl: "squirrels",
        foods: &["nuts", "seeds", "fruit"],
        home: "in trees in parks and forests",
        sound: s("chatters", "chatter", "chattered"),
        legs: 4,
        young: "kit",
        size: "small",
        class: "mammal",
        group: Group::Forest,
        place: "the park",
    },
    Animal {
        sg: "bee",
        pl: "bees",
        foods: &["nectar", "pollen"],
        home: "in hives",
        sound: s("buzzes", "buzz", "buzzed"),
        legs: 6,
        young: "larva",
        size: "very small",
        class: "insect",
        group: Group::Garden,
        place: "the garden",
    },
    Animal {
        sg: "lion",
        pl: "lions",
        foods: &["meat"],
        home: "on grassy plains in Africa",
        sound: s("roars", "roar", "roared"),
        legs: 4,
        young: "cub",
        size: "large",
        class: "mammal",
        group: Group::Wild,
        place: "the zoo",
    },
    Animal {
        sg: "elephant",
        pl: "elephants",
        foods: &["grass", "leaves", "fruit"],
        home: "in Africa and Asia",
        sound: s("trumpets", "trumpet", "trumpeted"),
        legs: 4,
        young: "calf",
        size: "very large",
        class: "mammal",
        group: Group::Wild,
        place: "the zoo",
    },
    Animal {
        sg: "snake",
        pl: "snakes",
        foods: &["mice", "frogs", "eggs"],
        home: "in grass, rocks and deserts",
        sound: s("hisses", "hiss", "hissed"),
        legs: 0,
        young: "hatchling",
        size: "long and thin",
        class: "reptile",
        group: Group::Wild,
        place: "the zoo",
    },
];

/// The thing whose colour is fixed: "bananas" are "yellow".
#[derive(Clone, Copy, Debug)]
pub struct Coloured {
    /// With its article where it needs one: "the sky", "grass", "bananas".
    pub thing: &'static str,
    pub plural: bool,
    pub colour: &'static str,
}

const fn c(thing: &'static str, plural: bool, colour: &'static str) -> Coloured {
    Coloured { thing, plural, colour }
}

pub const COLOURED: &[Coloured] = &[
    c("the sky", false, "blue"),
    c("grass", false, "green"),
    c("snow", false, "white"),
    c("milk", false, "white"),
    c("coal", false, "black"),
    c("chocolate", false, "brown"),
    c("bananas", true, "yellow"),
    c("lemons", true, "yellow"),
    c("tomatoes", true, "red"),
    c("strawberries", true, "red"),
    c("cherries", true, "red"),
    c("fire engines", true, "red"),
    c("carrots", true, "orange"),
    c("oranges", true, "orange"),
    c("pumpkins", true, "orange"),
    c("limes", true, "green"),
    c("frogs", true, "green"),
    c("plums", true, "purple"),
    c("blueberries", true, "blue"),
    c("crows", true, "black"),
    c("tree trunks", true, "brown"),
];

/// Colours with at least two things of that colour in `COLOURED`, in first-seen order.
pub fn colours_with_things() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for x in COLOURED {
        if !out.contains(&x.colour) && COLOURED.iter().filter(|y| y.colour == x.colour).count() >= 2
        {
            out.push(x.colour);
        }
    }
    out
}

/// A food and what it is made from.
#[derive(Clone, Copy, Debug)]
pub struct Dish {
    /// "bread", "pancakes", "an omelette"
    pub name: &'static str,
    pub plural: bool,
    pub from: &'static [&'static str],
    /// The name without an article, for "To make ...": "omelette".
    pub bare: &'static str,
}

const fn d(
    name: &'static str,
    plural: bool,
    from: &'static [&'static str],
    bare: &'static str,
) -> Dish {
    Dish { name, plural, from, bare }
}

pub const DISHES: &[Dish] = &[
    d("bread", false, &["flour", "water", "yeast"], "bread"),
    d("cheese", false, &["milk"], "cheese"),
    d("butter", false, &["cream"], "butter"),
    d("yogurt", false, &["milk"], "yogurt"),
    d("jam", false, &["fruit", "sugar"], "jam"),
    d("pancakes", true, &["flour", "eggs", "milk"], "pancakes"),
    d("lemonade", false, &["lemons", "water", "sugar"], "lemonade"),
    d("flour", false, &["wheat"], "flour"),
    d("popcorn", false, &["corn"], "popcorn"),
    d("chips", true, &["potatoes"], "chips"),
    d("orange juice", false, &["oranges"], "orange juice"),
    d("an omelette", false, &["eggs"], "an omelette"),
    d("soup", false, &["vegetables", "water"], "soup"),
    d("pasta", false, &["flour", "water"], "pasta"),
    d("apple pie", false, &["apples", "flour", "butter", "sugar"], "apple pie"),
];

/// Something we get from an animal: milk comes from cows.
#[derive(Clone, Copy, Debug)]
pub struct Produce {
    pub name: &'static str,
    pub plural: bool,
    /// Plural of the animal, matching `ANIMALS`.
    pub animal: &'static str,
}

pub const PRODUCE: &[Produce] = &[
    Produce { name: "milk", plural: false, animal: "cows" },
    Produce { name: "eggs", plural: true, animal: "hens" },
    Produce { name: "honey", plural: false, animal: "bees" },
    Produce { name: "wool", plural: false, animal: "sheep" },
];

#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub name: &'static str,
    pub pl: &'static str,
    /// "bakes bread and cakes"
    pub does: &'static str,
    /// "bake bread and cakes"
    pub does_pl: &'static str,
    /// "in a bakery"
    pub place: &'static str,
    /// "an oven"
    pub tool: &'static str,
}

pub const JOBS: &[Job] = &[
    Job {
        name: "baker",
        pl: "bakers",
        does: "bakes bread and cakes",
        does_pl: "bake bread and cakes",
        place: "in a bakery",
        tool: "an oven",
    },
    Job {
        name: "farmer",
        pl: "farmers",
        does: "grows crops and looks after animals",
        does_pl: "grow crops and look after animals",
        place: "on a farm",
        tool: "a tractor",
    },
    Job {
        name: "doctor",
        pl: "doctors",
        does: "helps people who are ill",
        does_pl: "help people who are ill",
        place: "in a hospital",
        tool: "a stethoscope",
    },
    Job {
        name: "teacher",
        pl: "teachers",
        does: "teaches children",
        does_pl: "teach children",
        place: "in a school",
        tool: "a whiteboard",
    },
    Job {
        name: "carpenter",
        pl: "carpenters",
        does: "makes things from wood",
        does_pl: "make things from wood",
        place: "in a workshop",
        tool: "a saw",
    },
    Job {
        name: "fisherman",
        pl: "fishermen",
        does: "catches fish",
        does_pl: "catch fish",
        place: "on a boat",
        tool: "a net",
    },
    Job {
        name: "painter",
        pl: "painters",
        does: "paints walls and houses",
        does_pl: "paint walls and houses",
        place: "in people's homes",
        tool: "a brush",
    },
    Job {
        name: "chef",
        pl: "chefs",
        does: "cooks meals",
        does_pl: "cook meals",
        place: "in a restaurant kitchen",
        tool: "a sharp knife",
    },
    Job {
        name: "tailor",
        pl: "tailors",
        does: "makes and mends clothes",
        does_pl: "make and mend clothes",
        place: "in a small shop",
        tool: "a needle",
    },
    Job {
        name: "nurse",
        pl: "nurses",
        does: "cares for sick people",
        does_pl: "care for sick people",
        place: "in a hospital",
        tool: "a thermometer",
    },
    Job {
        name: "firefighter",
        pl: "firefighters",
        does: "puts out fires",
        does_pl: "put out fires",
        place: "at a fire station",
        tool: "a hose",
    },
    Job {
        name: "librarian",
        pl: "librarians",
        does: "looks after books",
        does_pl: "look after books",
        place: "in a library",
        tool: "a computer",
    },
    Job {
        name: "gardener",
        pl: "gardeners",
        does: "looks after plants",
        does_pl: "look after plants",
        place: "in gardens and parks",
        tool: "a spade",
    },
    Job {
        name: "postman",
        pl: "postmen",
        does: "delivers letters and parcels",
        does_pl: "deliver letters and parcels",
        place: "in the streets of a town",
        tool: "a big bag",
    },
    Job {
        name: "dentist",
        pl: "dentists",
        does: "looks after teeth",
        does_pl: "look after teeth",
        place: "in a clinic",
        tool: "a small mirror",
    },
    Job {
        name: "builder",
        pl: "builders",
        does: "builds houses",
        does_pl: "build houses",
        place: "on building sites",
        tool: "a ladder",
    },
    Job {
        name: "pilot",
        pl: "pilots",
        does: "flies planes",
        does_pl: "fly planes",
        place: "in the cockpit of a plane",
        tool: "a radio",
    },
];

#[derive(Clone, Copy, Debug)]
pub struct Season {
    pub name: &'static str,
    pub months: [&'static str; 3],
    /// "cold and snowy"
    pub weather: &'static str,
    /// Things that happen then, each a clause: "flowers bloom".
    pub events: &'static [&'static str],
    /// What people like to do then, after "to": "build a snowman".
    pub activity: &'static str,
}

/// In order: each season comes after the one before it, and spring after winter.
pub const SEASONS: [Season; 4] = [
    Season {
        name: "spring",
        months: ["March", "April", "May"],
        weather: "mild and rainy",
        events: &["flowers bloom", "birds build nests", "lambs are born"],
        activity: "plant seeds in the garden",
    },
    Season {
        name: "summer",
        months: ["June", "July", "August"],
        weather: "hot and sunny",
        events: &[
            "the days are long",
            "people swim in lakes and in the sea",
            "fruit grows on the trees",
        ],
        activity: "swim in the lake",
    },
    Season {
        name: "autumn",
        months: ["September", "October", "November"],
        weather: "cool and windy",
        events: &[
            "leaves turn red and brown and fall from the trees",
            "farmers gather the harvest",
            "squirrels collect nuts",
        ],
        activity: "collect fallen leaves",
    },
    Season {
        name: "winter",
        months: ["December", "January", "February"],
        weather: "cold and snowy",
        events: &["snow falls", "the days are short", "ponds can freeze"],
        activity: "build a snowman",
    },
];

/// Monday is the first day of the week in this world.
pub const DAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Months and their lengths (February: 28, and 29 in a leap year, said where it is stated).
pub const MONTHS: [(&str, u32); 12] = [
    ("January", 31),
    ("February", 28),
    ("March", 31),
    ("April", 30),
    ("May", 31),
    ("June", 30),
    ("July", 31),
    ("August", 31),
    ("September", 30),
    ("October", 31),
    ("November", 30),
    ("December", 31),
];

/// The season a month belongs to.
pub fn season_of(month: &str) -> &'static Season {
    SEASONS.iter().find(|s| s.months.contains(&month)).unwrap_or(&SEASONS[0])
}

/// A shape and its number of sides (0 for the circle).
pub const SHAPES: &[(&str, u32)] = &[
    ("triangle", 3),
    ("square", 4),
    ("rectangle", 4),
    ("pentagon", 5),
    ("hexagon", 6),
    ("octagon", 8),
    ("circle", 0),
];

/// How many of a unit are in a larger one: sixty minutes in an hour.
pub struct Unit {
    pub small: &'static str,
    pub big: &'static str,
    pub count: u32,
}

pub const UNITS: &[Unit] = &[
    Unit { small: "seconds", big: "a minute", count: 60 },
    Unit { small: "minutes", big: "an hour", count: 60 },
    Unit { small: "hours", big: "a day", count: 24 },
    Unit { small: "days", big: "a week", count: 7 },
    Unit { small: "months", big: "a year", count: 12 },
    Unit { small: "weeks", big: "a year", count: 52 },
    Unit { small: "days", big: "a year", count: 365 },
];

/// Word pairs, each the other's opposite.
pub const OPPOSITES: &[(&str, &str)] = &[
    ("hot", "cold"),
    ("big", "small"),
    ("up", "down"),
    ("fast", "slow"),
    ("happy", "sad"),
    ("open", "closed"),
    ("wet", "dry"),
    ("full", "empty"),
    ("early", "late"),
    ("day", "night"),
    ("inside", "outside"),
    ("loud", "quiet"),
    ("thick", "thin"),
    ("top", "bottom"),
    ("left", "right"),
    ("north", "south"),
    ("east", "west"),
    ("first", "last"),
    ("heavy", "light"),
    ("young", "old"),
];

/// A word with its article and its one definition.
pub const DEFINITIONS: &[(&str, &str, &str)] = &[
    ("river", "a river", "A river is a large stream of water that flows into the sea or a lake."),
    ("mountain", "a mountain", "A mountain is a very high hill with steep sides."),
    ("forest", "a forest", "A forest is a large area of land covered with trees."),
    ("village", "a village", "A village is a small group of houses in the countryside."),
    ("ocean", "an ocean", "An ocean is a very large area of salt water."),
    ("island", "an island", "An island is a piece of land with water all around it."),
    ("bridge", "a bridge", "A bridge is a structure that carries a road or a path over a river."),
    ("library", "a library", "A library is a place where people can borrow books."),
    ("market", "a market", "A market is a place where people buy and sell food and other goods."),
    ("kitchen", "a kitchen", "A kitchen is the room where people cook food."),
    (
        "umbrella",
        "an umbrella",
        "An umbrella is a cover on a stick that keeps you dry in the rain.",
    ),
    ("clock", "a clock", "A clock is a machine that shows the time."),
    (
        "calendar",
        "a calendar",
        "A calendar is a chart that shows the days, weeks and months of a year.",
    ),
    ("map", "a map", "A map is a drawing that shows where places are."),
    ("farm", "a farm", "A farm is land where people grow crops and keep animals."),
    ("bakery", "a bakery", "A bakery is a shop where bread and cakes are baked and sold."),
    ("desert", "a desert", "A desert is a dry place where very little rain falls."),
    ("lake", "a lake", "A lake is a large area of fresh water with land all around it."),
    ("pond", "a pond", "A pond is a small area of still water."),
    ("nest", "a nest", "A nest is a home that birds build for their eggs."),
    ("hive", "a hive", "A hive is the home where bees live and make honey."),
    ("burrow", "a burrow", "A burrow is a hole in the ground that an animal digs to live in."),
    ("stable", "a stable", "A stable is a building where horses are kept."),
    ("mammal", "a mammal", "A mammal is an animal that feeds its young with milk."),
    ("season", "a season", "A season is one of the four parts of the year."),
    ("week", "a week", "A week is a period of seven days."),
    ("harvest", "a harvest", "A harvest is the gathering of crops when they are ripe."),
    ("recipe", "a recipe", "A recipe is a set of steps that tells you how to cook something."),
    (
        "thermometer",
        "a thermometer",
        "A thermometer is a tool that measures how hot or cold something is.",
    ),
    ("neighbour", "a neighbour", "A neighbour is a person who lives near you."),
];

/// A sentence about a named person, in the present and the past: "walks to the market".
pub const VERB_PHRASES: &[(&str, &str)] = &[
    ("walks to the market", "walked to the market"),
    ("plays in the garden", "played in the garden"),
    ("eats an apple", "ate an apple"),
    ("goes to school", "went to school"),
    ("sees a bird", "saw a bird"),
    ("reads a book", "read a book"),
    ("writes a letter", "wrote a letter"),
    ("sings a song", "sang a song"),
    ("swims in the lake", "swam in the lake"),
    ("drinks a cup of tea", "drank a cup of tea"),
    ("makes a cake", "made a cake"),
    ("takes the bus", "took the bus"),
    ("finds a coin", "found a coin"),
    ("buys some bread", "bought some bread"),
    ("sleeps late", "slept late"),
    ("cooks dinner", "cooked dinner"),
    ("paints a picture", "painted a picture"),
    ("opens the door", "opened the door"),
    ("feeds the cat", "fed the cat"),
    ("rides a bike", "rode a bike"),
    ("catches the ball", "caught the ball"),
    ("brings a gift", "brought a gift"),
    ("builds a sandcastle", "built a sandcastle"),
    ("washes the dishes", "washed the dishes"),
];

/// Countable things for word problems: singular, plural.
pub const COUNTABLES: &[(&str, &str)] = &[
    ("apple", "apples"),
    ("egg", "eggs"),
    ("book", "books"),
    ("pencil", "pencils"),
    ("cake", "cakes"),
    ("shell", "shells"),
    ("stamp", "stamps"),
    ("marble", "marbles"),
    ("orange", "oranges"),
    ("flower", "flowers"),
];

/// Reasons: the question, the same question after "Can you explain why", and the answer.
pub const REASONS: &[(&str, &str, &str)] = &[
    (
        "Why do people use umbrellas?",
        "people use umbrellas",
        "People use umbrellas to stay dry when it rains.",
    ),
    (
        "Why do birds build nests?",
        "birds build nests",
        "Birds build nests to keep their eggs and their young safe.",
    ),
    (
        "Why do we wear warm coats in winter?",
        "we wear warm coats in winter",
        "We wear warm coats in winter because the weather is cold and snowy.",
    ),
    (
        "Why do farmers use tractors?",
        "farmers use tractors",
        "Farmers use tractors to pull heavy loads and to work in their fields.",
    ),
    (
        "Why do bees visit flowers?",
        "bees visit flowers",
        "Bees visit flowers to collect nectar and pollen.",
    ),
    (
        "Why does ice melt in spring?",
        "ice melts in spring",
        "Ice melts when the temperature rises above zero degrees Celsius.",
    ),
    (
        "Why do we brush our teeth?",
        "we brush our teeth",
        "We brush our teeth to keep them clean and healthy.",
    ),
    (
        "Why do people wash their hands?",
        "people wash their hands",
        "People wash their hands to remove dirt and germs.",
    ),
    (
        "Why is the sky dark at night?",
        "the sky is dark at night",
        "The sky is dark at night because the sun has gone down.",
    ),
    (
        "Why do squirrels collect nuts in autumn?",
        "squirrels collect nuts in autumn",
        "Squirrels collect nuts in autumn so that they have food in winter.",
    ),
    (
        "Why do we need a thermometer?",
        "we need a thermometer",
        "We need a thermometer to measure the temperature.",
    ),
    (
        "Why does a torch stop working?",
        "a torch stops working",
        "A torch stops working when its batteries are flat.",
    ),
    (
        "Why do we put food in a fridge?",
        "we put food in a fridge",
        "We put food in a fridge to keep it cold and fresh.",
    ),
];

/// Everyday things and temperature: a question and its one answer.
pub const HOUSEHOLD: &[(&str, &str)] = &[
    ("At what temperature does water freeze?", "Water freezes at zero degrees Celsius."),
    ("At what temperature does water boil?", "Water boils at one hundred degrees Celsius."),
    ("What does a thermometer measure?", "A thermometer measures temperature in degrees."),
    (
        "What happens to water below zero degrees Celsius?",
        "Below zero degrees Celsius, water turns to ice.",
    ),
    ("What does a torch need to work?", "A torch needs batteries to work."),
    (
        "What should you do when the batteries in a torch are flat?",
        "When the batteries are flat, you should put new batteries in the torch.",
    ),
    ("How do you turn on a radio?", "To turn on a radio, press the button on the front."),
    ("What does an alarm clock do?", "An alarm clock rings to wake you up at the time you choose."),
    (
        "What is the temperature like in summer?",
        "In summer, the temperature is high and the days are warm.",
    ),
    (
        "What is the temperature like in winter?",
        "In winter, the temperature is low and often falls below zero degrees Celsius.",
    ),
    (
        "How can you tell how hot it is outside?",
        "You can tell how hot it is outside by looking at a thermometer.",
    ),
    ("What does a kettle do?", "A kettle boils water."),
    ("What does a fridge do?", "A fridge keeps food cold and fresh."),
    ("What does a washing machine do?", "A washing machine washes clothes."),
    ("What does a toaster do?", "A toaster turns bread into toast."),
    (
        "What does a clock with a screen show?",
        "A clock with a screen shows the time in numbers on its display.",
    ),
];

/// Animals in a group, in table order.
pub fn animals_in(group: Group) -> Vec<&'static Animal> {
    ANIMALS.iter().filter(|a| a.group == group).collect()
}

/// Animals whose class is `class` ("bird").
pub fn animals_of_class(class: &str) -> Vec<&'static Animal> {
    ANIMALS.iter().filter(|a| a.class == class).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        for p in PRODUCE {
            assert!(ANIMALS.iter().any(|a| a.pl == p.animal), "{}", p.animal);
        }
        for s in &SEASONS {
            for m in s.months {
                assert!(MONTHS.iter().any(|(n, _)| *n == m));
                assert_eq!(season_of(m).name, s.name);
            }
        }
        for (i, a) in ANIMALS.iter().enumerate() {
            assert!(!a.foods.is_empty());
            assert!(ANIMALS[..i].iter().all(|b| b.sg != a.sg), "duplicate {}", a.sg);
        }
        for (i, j) in JOBS.iter().enumerate() {
            assert!(JOBS[..i].iter().all(|k| k.does != j.does), "duplicate duty {}", j.does);
        }
        assert!(colours_with_things().contains(&"red"));
        assert!(!colours_with_things().contains(&"purple"));
    }
}
