"""The REST front end: Flask + Flask-RESTX over the core facade."""
