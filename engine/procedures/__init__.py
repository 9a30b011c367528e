"""The procedures some kinds share: ledgers, parameters, rounds and quotas, juries, public notices and objections."""
