"""Campaign stages, one module each. A stage is a function of the `Context` returning a summary
dict, registered (lotf.stages.registry) with its config section and what it needs from the
campaign, so that the campaign model is assembled and checked whole before anything runs
(lotf.schema). Adding a stage is one new module here: `registered()` imports them all.
"""
