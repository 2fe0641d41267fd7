"""Hand-written sets for the language models: sentences labelled with the entities in them,
and English/Spanish sentence pairs.

Written for this repository by one author, with the labels and reference translations fixed
before any model was run on them. Small on purpose: they show a model is wired right and
where it is weak, not how it ranks against published results.
"""

from __future__ import annotations

Entities = tuple[tuple[str, str], ...]

PII_SENTENCES: tuple[tuple[str, Entities], ...] = (
    # (sentence, ((entity type, the exact text of the entity), ...)) in order of appearance
    (
        "My name is John Smith and I live in Chicago.",
        (("PERSON", "John Smith"), ("LOCATION", "Chicago")),
    ),
    (
        "Please email maria.garcia@example.com about the invoice.",
        (("EMAIL_ADDRESS", "maria.garcia@example.com"),),
    ),
    ("Call me at 212-555-0123 after six.", (("PHONE_NUMBER", "212-555-0123"),)),
    ("The card number is 4111 1111 1111 1111.", (("CREDIT_CARD", "4111 1111 1111 1111"),)),
    ("The server at 192.168.1.20 stopped answering.", (("IP_ADDRESS", "192.168.1.20"),)),
    (
        "Angela Merkel met Emmanuel Macron in Berlin.",
        (("PERSON", "Angela Merkel"), ("PERSON", "Emmanuel Macron"), ("LOCATION", "Berlin")),
    ),
    (
        "Send the contract to david.okafor@lawfirm.co.uk by Friday.",
        (("EMAIL_ADDRESS", "david.okafor@lawfirm.co.uk"),),
    ),
    ("Our office number is (415) 555-0199.", (("PHONE_NUMBER", "(415) 555-0199"),)),
    (
        "I paid with my Mastercard 5500 0000 0000 0004 yesterday.",
        (("CREDIT_CARD", "5500 0000 0000 0004"),),
    ),
    ("Block traffic from 203.0.113.45 immediately.", (("IP_ADDRESS", "203.0.113.45"),)),
    (
        "Sarah Johnson flew from London to Tokyo last week.",
        (("PERSON", "Sarah Johnson"), ("LOCATION", "London"), ("LOCATION", "Tokyo")),
    ),
    (
        "You can reach Priya Patel at priya.patel@gmail.com or 646-555-0147.",
        (
            ("PERSON", "Priya Patel"),
            ("EMAIL_ADDRESS", "priya.patel@gmail.com"),
            ("PHONE_NUMBER", "646-555-0147"),
        ),
    ),
    (
        "The meeting will take place in Madrid, Spain.",
        (("LOCATION", "Madrid"), ("LOCATION", "Spain")),
    ),
    ("His Amex is 3782 822463 10005 and it expires soon.", (("CREDIT_CARD", "3782 822463 10005"),)),
    ("The router's address is 10.0.0.1 on the local network.", (("IP_ADDRESS", "10.0.0.1"),)),
    (
        "Michael Brown called from +44 20 7946 0958 this morning.",
        (("PERSON", "Michael Brown"), ("PHONE_NUMBER", "+44 20 7946 0958")),
    ),
    (
        "Tickets were sent to support@acme-tickets.com.",
        (("EMAIL_ADDRESS", "support@acme-tickets.com"),),
    ),
    (
        "Charge 6011 1111 1111 1117 for the hotel in Lisbon.",
        (("CREDIT_CARD", "6011 1111 1111 1117"), ("LOCATION", "Lisbon")),
    ),
    ("Yuki Tanaka moved to Canada in 2019.", (("PERSON", "Yuki Tanaka"), ("LOCATION", "Canada"))),
    (
        "Login attempts came from 172.16.254.1 and 198.51.100.7.",
        (("IP_ADDRESS", "172.16.254.1"), ("IP_ADDRESS", "198.51.100.7")),
    ),
    ("Ask Carlos Mendoza for the keys.", (("PERSON", "Carlos Mendoza"),)),
    ("My new number is 312-555-0176, please update it.", (("PHONE_NUMBER", "312-555-0176"),)),
    (
        "Write to anna.kowalski@university.edu if you have questions.",
        (("EMAIL_ADDRESS", "anna.kowalski@university.edu"),),
    ),
    ("The Visa card 4012 8888 8888 1881 was declined.", (("CREDIT_CARD", "4012 8888 8888 1881"),)),
    (
        "We drove from Paris to Amsterdam in one day.",
        (("LOCATION", "Paris"), ("LOCATION", "Amsterdam")),
    ),
    ("Dr. Emily Chen will see you at 3 pm.", (("PERSON", "Emily Chen"),)),
    ("The DNS server 8.8.8.8 resolves the name.", (("IP_ADDRESS", "8.8.8.8"),)),
    (
        "Robert Williams lives in Texas and works in Houston.",
        (("PERSON", "Robert Williams"), ("LOCATION", "Texas"), ("LOCATION", "Houston")),
    ),
    (
        "Contact james@startup.io or call 718-555-0112.",
        (("EMAIL_ADDRESS", "james@startup.io"), ("PHONE_NUMBER", "718-555-0112")),
    ),
    (
        "Fatima Al-Sayed booked a flight to Cairo.",
        (("PERSON", "Fatima Al-Sayed"), ("LOCATION", "Cairo")),
    ),
    ("The package arrived damaged and nobody answered.", ()),
    ("Please restart the build and check the logs.", ()),
    ("The quarterly report shows steady growth.", ()),
    ("I would like to cancel my subscription.", ()),
    (
        "Thomas Müller sent the files from Munich.",
        (("PERSON", "Thomas Müller"), ("LOCATION", "Munich")),
    ),
    (
        "Her card 4111-1111-1111-1111 was charged twice by the shop in Boston.",
        (("CREDIT_CARD", "4111-1111-1111-1111"), ("LOCATION", "Boston")),
    ),  # Harder cases: lower-case names, short names, IPv6, digits without separators, a card
    # number that fails its checksum (not a card), a street.
    ("you can ask bob about it, he sits next to me.", (("PERSON", "bob"),)),
    ("Call 6465550147 now.", (("PHONE_NUMBER", "6465550147"),)),
    (
        "The host answers on 2001:db8::ff00:42:8329 only.",
        (("IP_ADDRESS", "2001:db8::ff00:42:8329"),),
    ),
    (
        "Grace Hopper's notes are kept in Arlington, Virginia.",
        (("PERSON", "Grace Hopper"), ("LOCATION", "Arlington"), ("LOCATION", "Virginia")),
    ),
    ("The number 4111 1111 1111 1112 is not a valid card.", ()),
    (
        "Ms. Ng lives on Baker Street in London.",
        (("PERSON", "Ng"), ("LOCATION", "Baker Street"), ("LOCATION", "London")),
    ),
    (
        "Email me at li.wei@example.cn when you land in Shanghai.",
        (("EMAIL_ADDRESS", "li.wei@example.cn"), ("LOCATION", "Shanghai")),
    ),
)

ENGLISH_SPANISH: tuple[tuple[str, str], ...] = (
    # (English, Spanish): each a natural translation of the other
    ("The house is red.", "La casa es roja."),
    ("I have two brothers and a sister.", "Tengo dos hermanos y una hermana."),
    ("Where is the train station?", "¿Dónde está la estación de tren?"),
    ("The weather is very nice today.", "Hoy hace muy buen tiempo."),
    ("We are going to the beach tomorrow.", "Mañana vamos a la playa."),
    ("My father works in a hospital.", "Mi padre trabaja en un hospital."),
    ("The children are playing in the garden.", "Los niños están jugando en el jardín."),
    ("I would like a cup of coffee, please.", "Quisiera una taza de café, por favor."),
    ("She reads a book every week.", "Ella lee un libro cada semana."),
    ("The store opens at nine in the morning.", "La tienda abre a las nueve de la mañana."),
    ("This city has many old churches.", "Esta ciudad tiene muchas iglesias antiguas."),
    ("Can you help me with my luggage?", "¿Puedes ayudarme con mi equipaje?"),
    ("The meeting was cancelled yesterday.", "La reunión fue cancelada ayer."),
    ("I do not understand the question.", "No entiendo la pregunta."),
    ("Our teacher speaks three languages.", "Nuestro profesor habla tres idiomas."),
    ("The dog is sleeping under the table.", "El perro está durmiendo debajo de la mesa."),
    ("We need to buy bread and milk.", "Necesitamos comprar pan y leche."),
    ("The museum is closed on Mondays.", "El museo está cerrado los lunes."),
    ("He lives near the university.", "Él vive cerca de la universidad."),
    ("The food in this restaurant is excellent.", "La comida de este restaurante es excelente."),
    ("I lost my keys this morning.", "Perdí mis llaves esta mañana."),
    ("The price of the car is too high.", "El precio del coche es demasiado alto."),
    ("They arrived late because of the rain.", "Llegaron tarde por la lluvia."),
    ("My sister is a doctor in Madrid.", "Mi hermana es médica en Madrid."),
    ("The water in the lake is cold.", "El agua del lago está fría."),
    ("Please close the window.", "Por favor, cierra la ventana."),
    ("The film starts at eight o'clock.", "La película empieza a las ocho."),
    ("I want to learn to play the guitar.", "Quiero aprender a tocar la guitarra."),
    ("The new bridge was built last year.", "El puente nuevo se construyó el año pasado."),
    ("Thank you very much for your help.", "Muchas gracias por tu ayuda."),
)
