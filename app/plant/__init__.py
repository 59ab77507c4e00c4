"""Plant: the catalogue of sites, assets and sensors a supplier manages, and the user-defined
formulas its assets compute."""
