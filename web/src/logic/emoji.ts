// Standard emoji by Mattermost's names (the short names of emoji-datasource, which the server
// checks reactions against: crates/model/src/system_emoji.rs). A compact table of the common
// ones, by category, for the picker, reactions and `:name:` in post text; a name the table does
// not know is shown as `:name:`.

import { signal } from '@preact/signals';

// "category|name char name char …": a name and its emoji, space-separated.
const TABLE = [
    'Smileys|smile 😄 grinning 😀 smiley 😃 grin 😁 laughing 😆 sweat_smile 😅 rolling_on_the_floor_laughing 🤣 joy 😂 '
    + 'slightly_smiling_face 🙂 upside_down_face 🙃 wink 😉 blush 😊 innocent 😇 smiling_face_with_3_hearts 🥰 heart_eyes 😍 '
    + 'star-struck 🤩 kissing_heart 😘 kissing 😗 relaxed ☺️ kissing_closed_eyes 😚 kissing_smiling_eyes 😙 yum 😋 '
    + 'stuck_out_tongue 😛 stuck_out_tongue_winking_eye 😜 zany_face 🤪 stuck_out_tongue_closed_eyes 😝 money_mouth_face 🤑 '
    + 'hugging_face 🤗 face_with_hand_over_mouth 🤭 shushing_face 🤫 thinking_face 🤔 zipper_mouth_face 🤐 '
    + 'face_with_raised_eyebrow 🤨 neutral_face 😐 expressionless 😑 no_mouth 😶 smirk 😏 unamused 😒 '
    + 'face_with_rolling_eyes 🙄 grimacing 😬 lying_face 🤥 relieved 😌 pensive 😔 sleepy 😪 drooling_face 🤤 '
    + 'sleeping 😴 mask 😷 face_with_thermometer 🤒 face_with_head_bandage 🤕 nauseated_face 🤢 face_vomiting 🤮 '
    + 'sneezing_face 🤧 hot_face 🥵 cold_face 🥶 woozy_face 🥴 dizzy_face 😵 exploding_head 🤯 face_with_cowboy_hat 🤠 '
    + 'partying_face 🥳 sunglasses 😎 nerd_face 🤓 face_with_monocle 🧐 confused 😕 worried 😟 slightly_frowning_face 🙁 '
    + 'white_frowning_face ☹️ open_mouth 😮 hushed 😯 astonished 😲 flushed 😳 pleading_face 🥺 frowning 😦 anguished 😧 '
    + 'fearful 😨 cold_sweat 😰 disappointed_relieved 😥 cry 😢 sob 😭 scream 😱 confounded 😖 persevere 😣 '
    + 'disappointed 😞 sweat 😓 weary 😩 tired_face 😫 yawning_face 🥱 triumph 😤 rage 😡 angry 😠 '
    + 'face_with_symbols_on_mouth 🤬 smiling_imp 😈 imp 👿 skull 💀 hankey 💩 clown_face 🤡 ghost 👻 alien 👽 '
    + 'robot_face 🤖 smiley_cat 😺 smile_cat 😸 joy_cat 😹 heart_eyes_cat 😻 see_no_evil 🙈 hear_no_evil 🙉 '
    + 'speak_no_evil 🙊 melting_face 🫠 saluting_face 🫡 face_with_peeking_eye 🫣',
    'People|wave 👋 raised_back_of_hand 🤚 raised_hand ✋ spock-hand 🖖 ok_hand 👌 pinching_hand 🤏 v ✌️ '
    + 'crossed_fingers 🤞 i_love_you_hand_sign 🤟 the_horns 🤘 call_me_hand 🤙 point_left 👈 point_right 👉 '
    + 'point_up_2 👆 point_down 👇 point_up ☝️ +1 👍 -1 👎 fist ✊ facepunch 👊 left-facing_fist 🤛 '
    + 'right-facing_fist 🤜 clap 👏 raised_hands 🙌 open_hands 👐 palms_up_together 🤲 handshake 🤝 pray 🙏 '
    + 'writing_hand ✍️ nail_care 💅 selfie 🤳 muscle 💪 brain 🧠 eyes 👀 eye 👁️ tongue 👅 lips 👄 baby 👶 '
    + 'boy 👦 girl 👧 man 👨 woman 👩 older_man 👴 older_woman 👵 person_frowning 🙍 no_good 🙅 ok_woman 🙆 '
    + 'information_desk_person 💁 raising_hand 🙋 bow 🙇 face_palm 🤦 shrug 🤷 male-technologist 👨‍💻 '
    + 'female-technologist 👩‍💻 ninja 🥷 superhero 🦸 zombie 🧟 runner 🏃 dancer 💃 man_dancing 🕺 '
    + 'walking 🚶 busts_in_silhouette 👥 bust_in_silhouette 👤 footprints 👣',
    'Nature|dog 🐶 cat 🐱 mouse 🐭 hamster 🐹 rabbit 🐰 fox_face 🦊 bear 🐻 panda_face 🐼 koala 🐨 tiger 🐯 '
    + 'lion_face 🦁 cow 🐮 pig 🐷 frog 🐸 monkey_face 🐵 chicken 🐔 penguin 🐧 bird 🐦 baby_chick 🐤 '
    + 'eagle 🦅 duck 🦆 owl 🦉 bat 🦇 wolf 🐺 horse 🐴 unicorn_face 🦄 bee 🐝 bug 🐛 butterfly 🦋 snail 🐌 '
    + 'beetle 🐞 ant 🐜 spider 🕷️ turtle 🐢 snake 🐍 lizard 🦎 t-rex 🦖 octopus 🐙 crab 🦀 fish 🐟 '
    + 'tropical_fish 🐠 dolphin 🐬 whale 🐳 shark 🦈 crocodile 🐊 elephant 🐘 giraffe_face 🦒 sloth 🦥 '
    + 'hedgehog 🦔 feet 🐾 dragon 🐉 cactus 🌵 christmas_tree 🎄 evergreen_tree 🌲 deciduous_tree 🌳 '
    + 'palm_tree 🌴 seedling 🌱 herb 🌿 shamrock ☘️ four_leaf_clover 🍀 fallen_leaf 🍂 maple_leaf 🍁 '
    + 'mushroom 🍄 bouquet 💐 rose 🌹 tulip 🌷 sunflower 🌻 blossom 🌼 cherry_blossom 🌸 hibiscus 🌺 '
    + 'earth_africa 🌍 full_moon 🌕 new_moon 🌑 crescent_moon 🌙 sunny ☀️ star ⭐ star2 🌟 sparkles ✨ '
    + 'zap ⚡ fire 🔥 boom 💥 rainbow 🌈 cloud ☁️ partly_sunny ⛅ umbrella ☔ snowflake ❄️ snowman ⛄ '
    + 'tornado 🌪️ ocean 🌊 droplet 💧 sweat_drops 💦',
    'Food|apple 🍎 green_apple 🍏 pear 🍐 tangerine 🍊 lemon 🍋 banana 🍌 watermelon 🍉 grapes 🍇 '
    + 'strawberry 🍓 melon 🍈 cherries 🍒 peach 🍑 mango 🥭 pineapple 🍍 coconut 🥥 kiwifruit 🥝 tomato 🍅 '
    + 'avocado 🥑 eggplant 🍆 potato 🥔 carrot 🥕 corn 🌽 hot_pepper 🌶️ cucumber 🥒 broccoli 🥦 '
    + 'bread 🍞 croissant 🥐 baguette_bread 🥖 pretzel 🥨 cheese_wedge 🧀 egg 🥚 fried_egg 🍳 bacon 🥓 '
    + 'pancakes 🥞 hamburger 🍔 fries 🍟 pizza 🍕 hotdog 🌭 sandwich 🥪 taco 🌮 burrito 🌯 '
    + 'spaghetti 🍝 ramen 🍜 stew 🍲 sushi 🍣 bento 🍱 curry 🍛 rice 🍚 dumpling 🥟 icecream 🍦 '
    + 'doughnut 🍩 cookie 🍪 birthday 🎂 cake 🍰 cupcake 🧁 chocolate_bar 🍫 candy 🍬 lollipop 🍭 '
    + 'popcorn 🍿 coffee ☕ tea 🍵 beer 🍺 beers 🍻 clinking_glasses 🥂 wine_glass 🍷 cocktail 🍸 '
    + 'tropical_drink 🍹 champagne 🍾 cup_with_straw 🥤 knife_fork_plate 🍽️',
    'Activities|soccer ⚽ basketball 🏀 football 🏈 baseball ⚾ tennis 🎾 volleyball 🏐 rugby_football 🏉 '
    + '8ball 🎱 table_tennis_paddle_and_ball 🏓 badminton_racquet_and_shuttlecock 🏸 ice_hockey_stick_and_puck 🏒 golf ⛳ '
    + 'bow_and_arrow 🏹 fishing_pole_and_fish 🎣 boxing_glove 🥊 ski 🎿 trophy 🏆 sports_medal 🏅 '
    + 'first_place_medal 🥇 second_place_medal 🥈 third_place_medal 🥉 medal 🎖️ ticket 🎫 '
    + 'circus_tent 🎪 performing_arts 🎭 art 🎨 clapper 🎬 microphone 🎤 headphones 🎧 musical_note 🎵 '
    + 'notes 🎶 musical_keyboard 🎹 drum_with_drumsticks 🥁 saxophone 🎷 trumpet 🎺 guitar 🎸 violin 🎻 '
    + 'game_die 🎲 dart 🎯 bowling 🎳 video_game 🎮 jigsaw 🧩 chess_pawn ♟️ tada 🎉 confetti_ball 🎊 '
    + 'balloon 🎈 gift 🎁 ribbon 🎀 jack_o_lantern 🎃 fireworks 🎆 sparkler 🎇',
    'Travel|car 🚗 taxi 🚕 bus 🚌 ambulance 🚑 fire_engine 🚒 police_car 🚓 truck 🚚 tractor 🚜 '
    + 'racing_car 🏎️ racing_motorcycle 🏍️ bike 🚲 scooter 🛴 rotating_light 🚨 train 🚋 steam_locomotive 🚂 '
    + 'airplane ✈️ airplane_departure 🛫 airplane_arriving 🛬 rocket 🚀 flying_saucer 🛸 helicopter 🚁 '
    + 'boat ⛵ ship 🚢 anchor ⚓ construction 🚧 fuelpump ⛽ vertical_traffic_light 🚦 world_map 🗺️ '
    + 'statue_of_liberty 🗽 tokyo_tower 🗼 european_castle 🏰 stadium 🏟️ house 🏠 house_with_garden 🏡 '
    + 'office 🏢 hospital 🏥 bank 🏦 hotel 🏨 school 🏫 factory 🏭 tent ⛺ mountain ⛰️ volcano 🌋 '
    + 'desert 🏜️ beach_with_umbrella 🏖️ desert_island 🏝️ sunrise 🌅 city_sunset 🌆 night_with_stars 🌃 '
    + 'bridge_at_night 🌉 globe_with_meridians 🌐',
    'Objects|watch ⌚ iphone 📱 computer 💻 keyboard ⌨️ desktop_computer 🖥️ printer 🖨️ '
    + 'three_button_mouse 🖱️ floppy_disk 💾 cd 💿 camera 📷 video_camera 📹 movie_camera 🎥 tv 📺 '
    + 'radio 📻 telephone_receiver 📞 battery 🔋 electric_plug 🔌 bulb 💡 flashlight 🔦 candle 🕯️ '
    + 'moneybag 💰 dollar 💵 credit_card 💳 gem 💎 wrench 🔧 hammer 🔨 hammer_and_wrench 🛠️ gear ⚙️ '
    + 'nut_and_bolt 🔩 toolbox 🧰 magnet 🧲 link 🔗 chains ⛓️ lock 🔒 unlock 🔓 key 🔑 old_key 🗝️ '
    + 'shield 🛡️ pill 💊 syringe 💉 dna 🧬 microscope 🔬 telescope 🔭 crystal_ball 🔮 hourglass ⌛ '
    + 'alarm_clock ⏰ stopwatch ⏱️ calendar 📆 date 📅 spiral_calendar_pad 🗓️ clipboard 📋 pushpin 📌 '
    + 'round_pushpin 📍 paperclip 📎 straight_ruler 📏 scissors ✂️ card_file_box 🗃️ file_folder 📁 '
    + 'open_file_folder 📂 page_facing_up 📄 memo 📝 pencil2 ✏️ lower_left_ballpoint_pen 🖊️ black_nib ✒️ book 📖 books 📚 '
    + 'notebook 📓 ledger 📒 bookmark 🔖 label 🏷️ newspaper 📰 email 📧 envelope ✉️ inbox_tray 📥 '
    + 'outbox_tray 📤 package 📦 mailbox 📫 bell 🔔 no_bell 🔕 loudspeaker 📢 mega 📣 speech_balloon 💬 '
    + 'thought_balloon 💭 mag 🔍 mag_right 🔎 chart_with_upwards_trend 📈 chart_with_downwards_trend 📉 '
    + 'bar_chart 📊 trophy 🏆 bomb 💣 coffin ⚰️ broom 🧹 shopping_trolley 🛒 door 🚪 bed 🛏️ '
    + 'toilet 🚽 shower 🚿 teddy_bear 🧸 rocket 🚀',
    'Symbols|heart ❤️ orange_heart 🧡 yellow_heart 💛 green_heart 💚 blue_heart 💙 purple_heart 💜 '
    + 'black_heart 🖤 white_heart 🤍 brown_heart 🤎 broken_heart 💔 two_hearts 💕 revolving_hearts 💞 '
    + 'heartbeat 💓 heartpulse 💗 sparkling_heart 💖 cupid 💘 gift_heart 💝 heavy_heart_exclamation_mark_ornament ❣️ '
    + '100 💯 anger 💢 dizzy 💫 zzz 💤 white_check_mark ✅ heavy_check_mark ✔️ ballot_box_with_check ☑️ '
    + 'x ❌ negative_squared_cross_mark ❎ heavy_plus_sign ➕ heavy_minus_sign ➖ heavy_division_sign ➗ '
    + 'heavy_multiplication_x ✖️ question ❓ grey_question ❔ exclamation ❗ grey_exclamation ❕ bangbang ‼️ '
    + 'interrobang ⁉️ warning ⚠️ no_entry ⛔ no_entry_sign 🚫 octagonal_sign 🛑 red_circle 🔴 large_orange_circle 🟠 '
    + 'large_yellow_circle 🟡 large_green_circle 🟢 large_blue_circle 🔵 large_purple_circle 🟣 '
    + 'black_circle ⚫ white_circle ⚪ large_red_square 🟥 large_green_square 🟩 large_blue_square 🟦 '
    + 'arrow_up ⬆️ arrow_down ⬇️ arrow_left ⬅️ arrow_right ➡️ arrows_counterclockwise 🔄 repeat 🔁 '
    + 'recycle ♻️ infinity ♾️ copyright ©️ registered ®️ tm ™️ information_source ℹ️ new 🆕 free 🆓 '
    + 'up 🆙 cool 🆒 ok 🆗 sos 🆘 top 🔝 soon 🔜 on 🔛 end 🔚 back 🔙 checkered_flag 🏁 '
    + 'triangular_flag_on_post 🚩 waving_white_flag 🏳️ waving_black_flag 🏴 rainbow-flag 🏳️‍🌈 '
    + 'hash #️⃣ zero 0️⃣ one 1️⃣ two 2️⃣ three 3️⃣ four 4️⃣ five 5️⃣ six 6️⃣ seven 7️⃣ '
    + 'eight 8️⃣ nine 9️⃣ keycap_ten 🔟 1234 🔢 abc 🔤 pushpin 📌 speech_balloon 💬 eyes 👀',
];

export type EmojiCategory = { name: string; emoji: string[] };

/// The picker's categories, each a list of names (each name once in all).
export const CATEGORIES: EmojiCategory[] = [];
const BY_NAME = new Map<string, string>();
for (const line of TABLE) {
    const [category, list] = line.split('|');
    const words = list.trim().split(/\s+/);
    const names: string[] = [];
    for (let i = 0; i + 1 < words.length; i += 2) {
        if (!BY_NAME.has(words[i])) {
            BY_NAME.set(words[i], words[i + 1]);
            names.push(words[i]);
        }
    }
    CATEGORIES.push({ name: category, emoji: names });
}
// Mattermost's other names for some of the same emoji.
const ALIASES: Record<string, string> = {
    thumbsup: '+1', thumbsdown: '-1', grinning_face_with_star_eyes: 'star-struck', satisfied: 'laughing',
    poop: 'hankey', shit: 'hankey', punch: 'facepunch', 'e-mail': 'email', pencil: 'memo',
    cop: 'police_car', collision: 'boom', sailboat: 'boat', running: 'runner', honeybee: 'bee',
};
for (const [alias, name] of Object.entries(ALIASES)) {
    if (!BY_NAME.has(alias) && BY_NAME.has(name)) {
        BY_NAME.set(alias, BY_NAME.get(name)!);
    }
}

/// The emoji a name stands for, or undefined for a name the table does not know.
export function emojiFor(name: string): string | undefined {
    return BY_NAME.get(name);
}

/// Every name the table knows (with aliases), for tests.
export function knownNames(): string[] {
    return [...BY_NAME.keys()];
}

/// Names matching `query` (a part of the name, `_`/space/`-` alike), names that start with it
/// first; the whole table for an empty query.
export function searchEmoji(query: string, limit = 400): string[] {
    const q = query.trim().toLowerCase().replace(/^:|:$/g, '').replace(/[\s-]+/g, '_');
    const all = CATEGORIES.flatMap((category) => category.emoji);
    if (!q) {
        return all.slice(0, limit);
    }
    const starts: string[] = [];
    const contains: string[] = [];
    for (const name of [...all, ...Object.keys(ALIASES).filter((alias) => BY_NAME.has(alias) && !all.includes(alias))]) {
        const plain = name.replace(/-/g, '_');
        // An alias finds the emoji under its table name.
        const canonical = ALIASES[name] && !all.includes(name) ? ALIASES[name] : name;
        if (plain.startsWith(q) || plain.split('_').some((part) => part.startsWith(q))) {
            starts.push(canonical);
        } else if (plain.includes(q)) {
            contains.push(canonical);
        }
    }
    const seen = new Set<string>();
    return [...starts, ...contains].filter((name) => {
        const emoji = BY_NAME.get(name)!;
        if (seen.has(emoji)) {
            return false;
        }
        seen.add(emoji);
        return true;
    }).slice(0, limit);
}

/// `:name:` shortcodes in a piece of text, split into text and emoji parts.
export type TextPart = { text: string } | { emoji: string; name: string };
export function splitShortcodes(text: string): TextPart[] {
    const parts: TextPart[] = [];
    const pattern = /:([a-z0-9_+-]+):/gi;
    let last = 0;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
        const emoji = BY_NAME.get(match[1].toLowerCase());
        if (!emoji) {
            // The closing colon may open the next shortcode (":x::smile:").
            pattern.lastIndex = match.index + match[0].length - 1;
            continue;
        }
        if (match.index > last) {
            parts.push({ text: text.slice(last, match.index) });
        }
        parts.push({ emoji, name: match[1].toLowerCase() });
        last = match.index + match[0].length;
    }
    if (last < text.length) {
        parts.push({ text: text.slice(last) });
    }
    return parts;
}

// ---- the "recent" row of the picker, kept in this browser ----

const RECENT_KEY = 'chorus.recentEmoji';
const RECENT_MAX = 16;
const DEFAULT_RECENT = ['+1', 'smile', 'white_check_mark', 'heart', 'tada', 'joy', 'eyes', 'pray'];

function loadRecent(): string[] {
    try {
        const stored = JSON.parse(globalThis.localStorage?.getItem(RECENT_KEY) ?? 'null');
        if (Array.isArray(stored) && stored.every((name) => typeof name === 'string')) {
            return stored;
        }
    } catch {
        // A broken entry: start again.
    }
    return DEFAULT_RECENT;
}

/// Most recently used first.
export const recentEmoji = signal<string[]>(loadRecent());

/// `name` moved to the front of `recent` (pure, for tests).
export function pushRecent(recent: string[], name: string, max = RECENT_MAX): string[] {
    return [name, ...recent.filter((other) => other !== name)].slice(0, max);
}

export function rememberEmojiUse(name: string) {
    recentEmoji.value = pushRecent(recentEmoji.value, name);
    try {
        globalThis.localStorage?.setItem(RECENT_KEY, JSON.stringify(recentEmoji.value));
    } catch {
        // Storage full or off: the row is kept for this page only.
    }
}
