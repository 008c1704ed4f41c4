DROP TABLE mfa_tickets;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
