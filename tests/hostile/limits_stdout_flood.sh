# Attack: an endless stdout flood (`yes`), hoping the server buffers it all.
exec yes
