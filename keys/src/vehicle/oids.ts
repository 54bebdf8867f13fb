// Object identifiers of the vehicle certificate profile. In a module of their own so that
// certificate verification (node:crypto only) does not load @peculiar/x509 just for them.
export const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_COMMON_NAME = '2.5.4.3';
export const OID_SERIAL_NUMBER = '2.5.4.5';
