-- 0001: the initial schema.
--
-- Conventions: Discord ids (guild, channel, message, user) are INTEGER snowflakes; timestamps are
-- REAL Unix seconds (UTC); JSON columns hold TEXT that json_valid() accepts; embeddings are
-- little-endian float32 BLOBs of `dim` values. Every per-guild table carries guild_id, and the
-- rows that point at a track point at (track id, guild id) together, so a like, a
-- recommendation or a party can never reference another server's catalog.
-- The migration runner wraps this file in one transaction and records it in schema_migrations.

-- One analysis per audio content (sha256 of the bytes), shared by every guild that shares the
-- same audio. model_version names the models that produced it; a re-analysis with a newer model
-- replaces the row in place, so every track always has exactly one embedding.
CREATE TABLE analyses (
    content_hash  TEXT    NOT NULL PRIMARY KEY CHECK (length(content_hash) BETWEEN 1 AND 128),
    model_version TEXT    NOT NULL,
    duration_s    REAL    NOT NULL CHECK (duration_s >= 0),
    is_music      INTEGER NOT NULL DEFAULT 1 CHECK (is_music IN (0, 1)),
    descriptors   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(descriptors)),
    genres        TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(genres)),
    tags          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(tags)),
    timeline      TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(timeline)),
    extra         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
    dim           INTEGER NOT NULL CHECK (dim > 0),
    embedding     BLOB    NOT NULL CHECK (length(embedding) = 4 * dim),
    created_at    REAL    NOT NULL
);
CREATE INDEX analyses_model_version ON analyses (model_version);

-- A guild's catalog: what its members shared. UNIQUE (guild_id, content_hash) makes the second
-- share of the same audio in a guild a no-op; UNIQUE (id, guild_id) is the target of the
-- guild-scoped foreign keys below. An analysis cannot be deleted while a track uses it.
CREATE TABLE tracks (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,  -- never reused: ids live on in
                                                               -- Discord buttons and messages
    guild_id     INTEGER NOT NULL,
    content_hash TEXT    NOT NULL REFERENCES analyses (content_hash) ON DELETE RESTRICT,
    title        TEXT    NOT NULL,
    source_kind  TEXT    NOT NULL CHECK (source_kind IN ('link', 'attachment', 'file')),
    source_url   TEXT,
    added_by     INTEGER,            -- NULL once the user asked to be forgotten
    added_at     REAL    NOT NULL,
    UNIQUE (guild_id, content_hash),
    UNIQUE (id, guild_id)
);
CREATE INDEX tracks_guild_source ON tracks (guild_id, source_url);
CREATE INDEX tracks_guild_added ON tracks (guild_id, added_at);
CREATE INDEX tracks_content_hash ON tracks (content_hash);
CREATE INDEX tracks_added_by ON tracks (added_by) WHERE added_by IS NOT NULL;

CREATE TABLE likes (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    track_id   INTEGER NOT NULL,
    created_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id, track_id),
    FOREIGN KEY (track_id, guild_id) REFERENCES tracks (id, guild_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX likes_guild_user_created ON likes (guild_id, user_id, created_at);
CREATE INDEX likes_track ON likes (track_id, guild_id);
CREATE INDEX likes_user ON likes (user_id);

-- A listening party in one channel. At most one active (ended_at IS NULL) party per channel.
CREATE TABLE parties (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER,              -- the party's message, once posted
    host_id    INTEGER,              -- NULL once the host asked to be forgotten
    created_at REAL    NOT NULL,
    ended_at   REAL,
    CHECK (ended_at IS NULL OR ended_at >= created_at)
);
CREATE UNIQUE INDEX parties_one_active_per_channel
    ON parties (guild_id, channel_id) WHERE ended_at IS NULL;
CREATE INDEX parties_host ON parties (host_id) WHERE host_id IS NOT NULL;

CREATE TABLE party_members (
    party_id  INTEGER NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    joined_at REAL    NOT NULL,
    PRIMARY KEY (party_id, user_id)
) WITHOUT ROWID;
CREATE INDEX party_members_user ON party_members (user_id);

-- What each user was recommended and when, to avoid repeats. One row per (track, time).
CREATE TABLE recommendations (
    id             INTEGER NOT NULL PRIMARY KEY,
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    track_id       INTEGER NOT NULL,
    recommended_at REAL    NOT NULL,
    FOREIGN KEY (track_id, guild_id) REFERENCES tracks (id, guild_id) ON DELETE CASCADE
);
CREATE INDEX recommendations_guild_user_at ON recommendations (guild_id, user_id, recommended_at);
CREATE INDEX recommendations_track ON recommendations (track_id, guild_id);
CREATE INDEX recommendations_user ON recommendations (user_id);
CREATE INDEX recommendations_at ON recommendations (recommended_at);
