"""The union's organisation: units in their tree, people, the roles they hold, accounts and their administration."""
