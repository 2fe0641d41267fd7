# ruff: noqa: RUF001 - letters of other scripts (Cyrillic, Turkish dotless i) are the point
"""The small, hand-written sets the catalogue's quality figures are measured on.

Written for this repository by one author, 30 items each. They are big enough to catch a
broken, mis-wired or badly quantised model and to compare two variants of one model, and far
too small to rank a model against published results: one item moves an accuracy by 3.3
points. Labels were written before any model was run on them.
"""

from __future__ import annotations

SIMILARITY_PAIRS: tuple[tuple[str, str, float], ...] = (
    # (sentence, sentence, similarity from 0 (unrelated) to 5 (same meaning))
    ("A man is playing a guitar.", "A man plays the guitar.", 5.0),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.8),
    ("The cat is sleeping on the sofa.", "A cat naps on the couch.", 4.6),
    ("The stock market fell sharply today.", "Share prices dropped steeply on Monday.", 4.0),
    ("He bought a new car last week.", "Last week he purchased a new automobile.", 4.8),
    ("The children are playing in the park.", "Kids are playing outside in a park.", 4.4),
    ("How do I reset my password?", "I forgot my password, how can I change it?", 4.0),
    (
        "The restaurant was closed for renovation.",
        "The restaurant has reopened after renovation.",
        2.8,
    ),
    ("A dog is running through the snow.", "A dog is sleeping by the fire.", 1.8),
    ("She is reading a book in the library.", "She is writing a letter at home.", 1.2),
    ("The train to London was delayed by an hour.", "My flight to London left an hour late.", 2.6),
    ("Python is a popular programming language.", "Many developers write code in Python.", 3.6),
    ("The weather will be sunny tomorrow.", "Tomorrow is forecast to be bright and clear.", 4.6),
    ("The weather will be sunny tomorrow.", "It rained all day yesterday.", 1.6),
    ("A man is riding a horse.", "A man is riding a bicycle.", 2.2),
    (
        "The government announced new tax cuts.",
        "New tax reductions were announced by the government.",
        5.0,
    ),
    ("I love eating pizza.", "Pizza is my favourite food.", 4.2),
    ("The meeting has been moved to Thursday.", "We rescheduled the meeting for Thursday.", 4.6),
    ("The meeting has been moved to Thursday.", "The concert was cancelled.", 0.8),
    ("A plane is taking off.", "An airplane departs from the runway.", 4.4),
    ("The baby is crying.", "The man is playing the piano.", 0.2),
    ("Quantum computers use qubits.", "The bakery sells fresh bread every morning.", 0.0),
    ("He fixed the leaking tap in the kitchen.", "The plumber repaired the kitchen faucet.", 3.8),
    ("The team won the championship.", "The team lost the final match.", 2.0),
    ("Turn off the lights when you leave.", "Please switch the lights off on your way out.", 4.8),
    ("The museum is free on Sundays.", "Entry to the museum costs nothing on Sunday.", 4.8),
    ("The museum is free on Sundays.", "The museum opens at nine.", 2.0),
    (
        "Scientists discovered a new species of frog.",
        "A new kind of frog was found by researchers.",
        4.8,
    ),
    ("My phone battery dies quickly.", "The battery on my phone drains fast.", 4.8),
    ("My phone battery dies quickly.", "I need to buy groceries.", 0.2),
)

SENTIMENT: tuple[tuple[str, str], ...] = (
    ("I absolutely love this phone, it's fantastic!", "positive"),
    ("The service was excellent and the staff were very friendly.", "positive"),
    ("What a wonderful day, I feel great.", "positive"),
    ("This is the best movie I have seen all year.", "positive"),
    ("Thank you so much, you made me very happy.", "positive"),
    ("The food was delicious and the view was beautiful.", "positive"),
    ("Great job on the presentation, it was impressive.", "positive"),
    ("I'm really excited about the new project!", "positive"),
    ("The hotel was clean, comfortable and perfect for our trip.", "positive"),
    ("She is a kind and brilliant teacher.", "positive"),
    ("This is the worst product I have ever bought.", "negative"),
    ("The service was terrible and the staff were rude.", "negative"),
    ("I hate waiting in long lines.", "negative"),
    ("The movie was boring and far too long.", "negative"),
    ("I'm so disappointed with the poor quality.", "negative"),
    ("The food was cold and tasted awful.", "negative"),
    ("My flight was cancelled and I am furious.", "negative"),
    ("This app keeps crashing, it's useless.", "negative"),
    ("What a horrible, depressing day.", "negative"),
    ("The room was dirty and smelled bad.", "negative"),
    ("The meeting is scheduled for 3 pm on Tuesday.", "neutral"),
    ("The package was delivered to the front desk.", "neutral"),
    ("Paris is the capital of France.", "neutral"),
    ("The report contains twelve pages.", "neutral"),
    ("He took the bus to work this morning.", "neutral"),
    ("The store opens at nine.", "neutral"),
    ("Water boils at 100 degrees Celsius at sea level.", "neutral"),
    ("The train leaves from platform four.", "neutral"),
    ("She moved to Berlin in 2019.", "neutral"),
    ("The book has a blue cover.", "neutral"),
)

LANGUAGES: tuple[tuple[str, str], ...] = (
    # (text, ISO 639-1 code): the same three sentences in ten languages
    ("The weather is nice today and we are going to the beach.", "en"),
    ("Could you tell me where the nearest train station is?", "en"),
    ("She has been working at the hospital for ten years.", "en"),
    ("Das Wetter ist heute schön und wir gehen an den Strand.", "de"),
    ("Können Sie mir sagen, wo der nächste Bahnhof ist?", "de"),
    ("Sie arbeitet seit zehn Jahren im Krankenhaus.", "de"),
    ("Il fait beau aujourd'hui et nous allons à la plage.", "fr"),
    ("Pourriez-vous me dire où se trouve la gare la plus proche ?", "fr"),
    ("Elle travaille à l'hôpital depuis dix ans.", "fr"),
    ("Hace buen tiempo hoy y vamos a la playa.", "es"),
    ("¿Podría decirme dónde está la estación de tren más cercana?", "es"),
    ("Ella trabaja en el hospital desde hace diez años.", "es"),
    ("Oggi il tempo è bello e andiamo al mare.", "it"),
    ("Potrebbe dirmi dove si trova la stazione ferroviaria più vicina?", "it"),
    ("Lavora in ospedale da dieci anni.", "it"),
    ("O tempo está bom hoje e vamos à praia.", "pt"),
    ("Pode me dizer onde fica a estação de trem mais próxima?", "pt"),
    ("Ela trabalha no hospital há dez anos.", "pt"),
    ("Het weer is vandaag mooi en we gaan naar het strand.", "nl"),
    ("Kunt u mij vertellen waar het dichtstbijzijnde station is?", "nl"),
    ("Zij werkt al tien jaar in het ziekenhuis.", "nl"),
    ("Dzisiaj jest ładna pogoda i idziemy na plażę.", "pl"),
    ("Czy może mi pan powiedzieć, gdzie jest najbliższa stacja kolejowa?", "pl"),
    ("Ona pracuje w szpitalu od dziesięciu lat.", "pl"),
    ("Bugün hava güzel ve sahile gidiyoruz.", "tr"),
    ("Bana en yakın tren istasyonunun nerede olduğunu söyler misiniz?", "tr"),
    ("On yıldır hastanede çalışıyor.", "tr"),
    ("Сегодня хорошая погода, и мы идём на пляж.", "ru"),
    ("Не подскажете, где ближайшая железнодорожная станция?", "ru"),
    ("Она работает в больнице уже десять лет.", "ru"),
)
