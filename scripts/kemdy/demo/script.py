"""What the look-alike's speakers say: Korean carrier sentences, emotion phrases and
distractors, with the transcription guide's markers sprinkled in as annotators wrote them."""

from __future__ import annotations

import numpy as np

# Text: neutral carriers, emotion phrases, and distractor carriers that reuse emotion words
# in a neutral sense (a scary film, a painter 화가), so single words are not enough.
CARRIERS = [
    "오늘 회의 몇 시에 시작해", "어제 그 가게에 갔었는데", "그래서 내가 전화를 했거든",
    "내일 아침에 일찍 나가야 돼", "이번 주말에 뭐 할 거야", "버스가 아직 안 왔어",
    "점심은 뭐 먹었어", "그 책 다 읽었어", "엄마한테 말해 봤어", "회사 앞에서 만나자",
    "숙제는 내일까지야", "택시 타고 갈까", "비가 올 것 같아", "지금 집에 가는 길이야",
    "동생이 아까 전화했더라", "커피 한 잔 할래", "아까 그 사람 누구야", "주소 좀 다시 알려 줘",
    "다음 주에 시험이 있어", "그 얘기는 나중에 하자", "역 앞에 새 가게가 생겼대",
    "차가 많이 막히더라", "편의점에 잠깐 들를게", "강아지 산책시켜야 돼",
]  # fmt: skip
DISTRACTORS = [
    "무서운 영화 보러 갈래", "슬픈 노래 좀 틀어 봐", "화가 그린 그림이래",
    "좋아하는 음식이 뭐야", "진짜 이름이 뭐였지", "아픈 데는 없어",
]  # fmt: skip
PHRASES = {
    "happy": ["좋아", "신난다", "기뻐", "너무 좋다", "완전 행복해", "재밌겠다"],
    "surprise": ["깜짝이야", "진짜?", "헐 대박", "말도 안 돼", "어머 웬일이야", "정말이야?"],
    "angry": ["짜증나", "화가 나", "열받아", "어이가 없네", "진짜 짜증나게 하네", "왜 그래 진짜"],
    "sad": ["슬퍼", "우울해", "속상해", "눈물 나", "너무 서운해", "마음이 아파"],
    "disgust": ["역겨워", "징그러워", "더러워", "토 나와", "으 싫어", "끔찍해"],
    "fear": ["무서워", "겁나", "소름 돋아", "떨려", "어떡해 무서워", "불안해"],
}
FILLERS = ["음", "그러니까", "근데", "아니", "뭐", "그냥", "약간", "막", "이제", "어"]
# Transcription-guide markers; clean_transcript() must strip every one of them.
MARK_TOKENS = ["c/", "n/", "N/", "u/", "l/", "b/", "(웃음)", "(한숨)", "(기침)"]


def compose_text(rng: np.random.Generator, emotion: str | None) -> str:
    """One raw transcript line; emotion=None gives a neutral-sounding line."""
    pool = DISTRACTORS if rng.random() < 0.15 else CARRIERS
    parts = [str(rng.choice(pool))]
    if rng.random() < 0.35:
        parts.append(str(rng.choice(CARRIERS)))
    if emotion is not None:
        phrase = str(rng.choice(PHRASES[emotion]))
        parts.insert(int(rng.integers(0, len(parts) + 1)), phrase)
    if rng.random() < 0.3:
        parts.insert(0, str(rng.choice(FILLERS)))
    words = " ".join(parts).split(" ")
    if rng.random() < 0.35:  # transcription markers, as the annotators wrote them
        for _ in range(int(rng.integers(1, 3))):
            kind = rng.random()
            i = int(rng.integers(0, len(words)))
            if kind < 0.6:
                words.insert(i, str(rng.choice(MARK_TOKENS)))
            elif kind < 0.75:
                words[i] += "*"  # partly understood
            elif kind < 0.9:
                words.insert(i, words[i][0] + "+")  # repetition: 그+ 그러니까
            else:
                words.insert(i, "/" + str(rng.choice(["아", "어", "음"])))  # interjection
    line = " ".join(words)
    if not line.endswith("?"):
        line += str(rng.choice([".", ".", "?", ""]))
    return line


def n_syllables(text: str) -> int:
    return sum("\uac00" <= ch <= "\ud7a3" for ch in text)
