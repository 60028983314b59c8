/**
 * ASE's SQLite schema, version 9, verbatim (../shared/formats/ASE_DB.md §2): the same 33
 * columns in the same order (ASE appends with a positional INSERT), AUTOINCREMENT (ASE reads
 * sqlite_sequence), and never an index called `user_index` (ASE would call the file version 1).
 */
export const ASE_DB_VERSION = 9;

export const SCHEMA_SQL = `CREATE TABLE systems (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ID's, timestamps and user name
    unique_id TEXT UNIQUE,
    ctime REAL,
    mtime REAL,
    username TEXT,
    numbers BLOB,  -- stuff that defines an Atoms object
    positions BLOB,
    cell BLOB,
    pbc INTEGER,
    initial_magmoms BLOB,
    initial_charges BLOB,
    masses BLOB,
    tags BLOB,
    momenta BLOB,
    constraints TEXT,  -- constraints and calculator
    calculator TEXT,
    calculator_parameters TEXT,
    energy REAL,  -- calculated properties
    free_energy REAL,
    forces BLOB,
    stress BLOB,
    dipole BLOB,
    magmoms BLOB,
    magmom REAL,
    charges BLOB,
    key_value_pairs TEXT,  -- key-value pairs and data as json
    data BLOB,
    natoms INTEGER,  -- stuff for making queries faster
    fmax REAL,
    smax REAL,
    volume REAL,
    mass REAL,
    charge REAL);
CREATE TABLE species (
    Z INTEGER,
    n INTEGER,
    id INTEGER,
    FOREIGN KEY (id) REFERENCES systems(id));
CREATE TABLE keys (
    key TEXT,
    id INTEGER,
    FOREIGN KEY (id) REFERENCES systems(id));
CREATE TABLE text_key_values (
    key TEXT,
    value TEXT,
    id INTEGER,
    FOREIGN KEY (id) REFERENCES systems(id));
CREATE TABLE number_key_values (
    key TEXT,
    value REAL,
    id INTEGER,
    FOREIGN KEY (id) REFERENCES systems(id));
CREATE TABLE information (
    name TEXT,
    value TEXT);
INSERT INTO information VALUES ('version', '9');
CREATE INDEX unique_id_index ON systems(unique_id);
CREATE INDEX ctime_index ON systems(ctime);
CREATE INDEX username_index ON systems(username);
CREATE INDEX calculator_index ON systems(calculator);
CREATE INDEX species_index ON species(Z);
CREATE INDEX key_index ON keys(key);
CREATE INDEX text_index ON text_key_values(key);
CREATE INDEX number_index ON number_key_values(key);`;

/** ASE's time unit: years (365.25 days) since T2000 = 1999-12-31T23:00:00Z. */
const T2000 = 946681200.0;
const YEAR = 31557600.0;

export function unixToAseTime(unixSeconds: number): number {
  return (unixSeconds - T2000) / YEAR;
}

export function aseTimeToUnix(t: number): number {
  return t * YEAR + T2000;
}
