"""The clinic's routes: the JSON API, sign-in and sign-out, the clinician's pages, the programming page and
the patient's controller."""
