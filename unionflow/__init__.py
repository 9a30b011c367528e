"""unionflow on top of everything: the app factory (``unionflow.app.create_app``), the command line
(``unionflow`` = ``unionflow.cli``) and the demo with its seeds."""
