"""What both faces (api/, the JSON API, and pages/, the HTML pages) stand on: the request's database
session and units of work, signing in and the acting person, CSRF, uploads and downloads, paging
cursors, rate limits, local time, errors, i18n, and the templates and static files.

It imports the engine and nothing of api/, pages/ or unionflow/ (.importlinter)."""
