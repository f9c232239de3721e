"""The Textual app: the App (app.py), its screens and widgets, the runs it trains or follows, and the form."""
