//! The catalogue of every error Chorus answers with: one entry per distinct answer, each with
//! its Mattermost id, HTTP status and English message, grouped by resource. To see what a route
//! may return, follow its use case and read the entries it names; [`catalogue`] lists them all.
//!
//! Ids follow Mattermost's (clients translate them), so several entries may share one id with
//! different messages: Mattermost's translation is generic, ours says which check failed. A
//! message may hold `{name}` placeholders that the call site fills with
//! [`ErrorId::with_param`] / [`AppError::with_param`].
//!
//! Subsystems keep their own typed errors and implement [`Catalogued`] to name the entry they
//! become; `?` then converts them into an [`AppError`] at the edge.

use crate::AppError;

/// Declares the catalogue: `Name = status, "mattermost.id", "message";` per entry. The macro
/// only spares writing three `match`es and the list of all entries by hand.
macro_rules! error_catalogue {
    ($(
        $(#[$attribute:meta])*
        $name:ident = $status:literal, $id:literal, $message:literal;
    )*) => {
        /// One entry of the error catalogue. `AppError::from(ErrorId::PostNotFound)` builds the
        /// answer; see the module doc.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorId {
            $( $(#[$attribute])* $name, )*
        }

        impl ErrorId {
            /// Every entry, in the order of the table below.
            const ALL: &'static [ErrorId] = &[$( ErrorId::$name, )*];

            /// The Mattermost error id clients see, e.g. `app.post.get.app_error`.
            pub fn id(self) -> &'static str {
                match self {
                    $( ErrorId::$name => $id, )*
                }
            }

            /// The HTTP status of the answer.
            pub fn status(self) -> u16 {
                match self {
                    $( ErrorId::$name => $status, )*
                }
            }

            /// The English message, possibly with `{name}` placeholders.
            pub fn message(self) -> &'static str {
                match self {
                    $( ErrorId::$name => $message, )*
                }
            }
        }
    };
}

error_catalogue! {
    // ---- any route: authentication, permissions, request parsing ----
    SessionExpired = 401, "api.context.session_expired.app_error", "Invalid or expired session, please login again.";
    /// The caller lacks a permission: Mattermost's generic 403.
    NoPermission = 403, "api.context.permissions.app_error", "You do not have the appropriate permissions.";
    NotChannelMember = 403, "api.context.permissions.app_error", "You do not have the appropriate permissions: not a member of this channel.";
    NotTeamMember = 403, "api.context.permissions.app_error", "You do not have the appropriate permissions: not a member of this team.";
    FileNotAttachedYet = 403, "api.context.permissions.app_error", "You do not have the appropriate permissions: the file is not attached to a post yet.";
    /// A parameter in the path, query or body is missing or malformed.
    InvalidParam = 400, "api.context.invalid_param.app_error", "Invalid or missing {name} parameter in request URL or body.";
    InvalidUrlParam = 400, "api.context.invalid_url_param.app_error", "Invalid or missing {name} parameter in request URL.";
    InvalidQuery = 400, "api.context.invalid_url_param.app_error", "Invalid query parameter: {reason}";
    /// The message is the path extractor's own explanation.
    InvalidPath = 400, "api.context.invalid_url_param.app_error", "{reason}";
    /// PostgreSQL text cannot hold U+0000.
    NulCharacterInUrl = 400, "api.context.invalid_url_param.app_error", "The request contains a NUL character, which is not allowed.";
    NulCharacterInBody = 400, "api.context.invalid_body_param.app_error", "The request contains a NUL character, which is not allowed.";
    UnreadableBody = 400, "api.context.invalid_body_param.app_error", "Could not read the request body.";
    EmptyBody = 400, "api.context.invalid_body_param.app_error", "The request body is empty; a JSON body is required.";
    InvalidBody = 400, "api.context.invalid_body_param.app_error", "Invalid request body: {reason}";
    BodyTooLarge = 413, "api.context.request_body_too_large.app_error", "The request body is larger than MaximumPayloadSizeBytes allows.";
    PageNotFound = 404, "api.context.404.app_error", "Sorry, we could not find the page.";
    MethodNotAllowed = 405, "api.context.405.app_error", "This method is not allowed on this URL.";
    /// A handler panicked; the panic is caught and answered with this.
    Panic = 500, "api.context.panic.app_error", "The server hit an unexpected error.";
    ShuttingDown = 503, "api.server.shutting_down", "The server is shutting down.";

    // ---- the database (StoreError) ----
    UniqueConstraint = 400, "store.sql.unique_constraint.app_error", "A record with that value already exists.";
    DatabaseUnavailable = 503, "store.sql.unavailable.app_error", "The database is temporarily unavailable, please retry.";
    QueryTimeout = 504, "store.sql.query_timeout.app_error", "The database query timed out.";
    DatabaseError = 500, "store.sql.internal.app_error", "We encountered an error with the database.";

    // ---- users ----
    UserNotFound = 404, "app.user.get.app_error", "Unable to find the user.";
    UsernameInvalid = 400, "model.user.is_valid.username.app_error", "Username must begin with a letter, and contain between 3 to 22 lowercase characters made up of numbers, letters, and the symbols '.', '-', and '_'.";
    EmailInvalid = 400, "model.user.is_valid.email.app_error", "Invalid email.";
    NicknameTooLong = 400, "model.user.is_valid.nickname.app_error", "Invalid nickname: at most {maximum} characters.";
    FirstNameTooLong = 400, "model.user.is_valid.first_name.app_error", "Invalid first_name: at most {maximum} characters.";
    LastNameTooLong = 400, "model.user.is_valid.last_name.app_error", "Invalid last_name: at most {maximum} characters.";
    PositionTooLong = 400, "model.user.is_valid.position.app_error", "Invalid position: at most {maximum} characters.";
    LocaleTooLong = 400, "model.user.is_valid.locale.app_error", "Invalid locale: at most 5 characters.";
    SignUpDisabled = 403, "api.user.create_user.signup_email_disabled.app_error", "User sign-up is disabled.";
    NoOpenServer = 403, "api.user.create_user.no_open_server", "This server does not allow open signups. Please speak with your Administrator to receive an invitation.";
    EmailTaken = 400, "app.user.save.email_exists.app_error", "An account with that email already exists.";
    UsernameTaken = 400, "app.user.save.username_exists.app_error", "An account with that username already exists.";
    UsernameOrEmailTaken = 400, "app.user.update.find.app_error", "That username or email is already taken.";
    TooManyUserIds = 400, "api.user.get_users_by_ids.too_many", "At most 1000 ids per request.";
    TooManyUsernames = 400, "api.user.get_users_by_usernames.too_many", "At most 1000 usernames per request.";
    CurrentPasswordIncorrect = 400, "api.user.update_password.incorrect.app_error", "The \"Current Password\" you entered is incorrect. Please check that Caps Lock is off and try again.";
    AccessTokensDisabled = 501, "api.user.create_user_access_token.disabled", "Personal access tokens are disabled on this server. Please contact your system administrator for details.";
    AccessTokenDescriptionInvalid = 400, "model.user_access_token.is_valid.description.app_error", "Invalid description, must be 255 or less characters";
    AccessTokenNotFound = 404, "app.access_token.get.app_error", "Unable to find the access token.";

    // ---- passwords (PasswordSettings): the id names what is missing, the message what is required ----
    PasswordTooShort = 400, "model.user.is_valid.pwd_min_length.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordTooLong = 400, "model.user.is_valid.pwd_max_length.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercase = 400, "model.user.is_valid.pwd_lowercase.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsUppercase = 400, "model.user.is_valid.pwd_uppercase.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsNumber = 400, "model.user.is_valid.pwd_number.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsSymbol = 400, "model.user.is_valid.pwd_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseUppercase = 400, "model.user.is_valid.pwd_lowercase_uppercase.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseNumber = 400, "model.user.is_valid.pwd_lowercase_number.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseSymbol = 400, "model.user.is_valid.pwd_lowercase_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsUppercaseNumber = 400, "model.user.is_valid.pwd_uppercase_number.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsUppercaseSymbol = 400, "model.user.is_valid.pwd_uppercase_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsNumberSymbol = 400, "model.user.is_valid.pwd_number_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseUppercaseNumber = 400, "model.user.is_valid.pwd_lowercase_uppercase_number.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseUppercaseSymbol = 400, "model.user.is_valid.pwd_lowercase_uppercase_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseNumberSymbol = 400, "model.user.is_valid.pwd_lowercase_number_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsUppercaseNumberSymbol = 400, "model.user.is_valid.pwd_uppercase_number_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";
    PasswordNeedsLowercaseUppercaseNumberSymbol = 400, "model.user.is_valid.pwd_lowercase_uppercase_number_symbol.app_error", "Your password must contain {requirements} and at most 72 characters.";

    // ---- login and sessions ----
    InvalidCredentials = 401, "api.user.login.invalid_credentials_email_username", "Enter a valid email or username and/or password.";
    BlankPassword = 400, "api.user.login.blank_pwd.app_error", "Password field must not be blank";
    AccountDeactivated = 401, "api.user.login.inactive.app_error", "Login failed because your account has been deactivated.";
    TooManyLoginAttempts = 401, "api.user.check_user_login_attempts.too_many.app_error", "Your account is locked because of too many failed password attempts. Please reset your password.";
    AccessTokenInvalid = 401, "app.user_access_token.invalid_or_missing", "Invalid or missing token.";
    SessionOfAnotherUser = 400, "api.user.revoke_session.user_id_mismatch", "The session does not belong to that user.";
    SessionNotFound = 404, "app.session.get.app_error", "Unable to find the session.";

    // ---- teams ----
    TeamNotFound = 404, "app.team.get.app_error", "Unable to find the team.";
    TeamMemberNotFound = 404, "app.team_member.get.app_error", "Unable to find the team member.";
    TeamNameInvalid = 400, "model.team.is_valid.url.app_error", "Team name must be 2-64 lowercase letters, numbers or dashes, start and end with a letter or number, and not be reserved.";
    TeamDisplayNameInvalid = 400, "model.team.is_valid.name.app_error", "Display name must be 1-64 characters.";
    TeamTypeInvalid = 400, "model.team.is_valid.type.app_error", "Invalid team type, must be O or I.";
    TeamDescriptionInvalid = 400, "model.team.is_valid.description.app_error", "Invalid description.";
    TeamNameTaken = 400, "app.team.save.existing.app_error", "A team with that name already exists.";
    AddToTeamForbidden = 403, "api.team.add_user_to_team.forbidden.app_error", "You do not have permission to add users to this team.";
    AddDeactivatedUserToTeam = 400, "api.team.add_user_to_team.deactivated.app_error", "The user is deactivated.";
    TeamFull = 400, "app.team.join_user_to_team.max_accounts.app_error", "This team has reached the maximum number of allowed accounts. Contact your System Administrator to set a higher limit.";
    /// Leaving a team one is not a member of.
    TeamMemberMissing = 404, "app.team.get_member.missing.app_error", "No team member found for that user ID and team ID.";
    TeamIdMismatch = 400, "api.team.add_team_member.team_id.mismatch", "The team_id in the body does not match the URL.";

    // ---- channels ----
    ChannelNotFound = 404, "app.channel.get.app_error", "Unable to find the channel.";
    ChannelMemberNotFound = 404, "app.channel_member.get.app_error", "Unable to find the channel member.";
    /// The channel vanished between the permission check and the post's insert.
    ExistingChannelNotFound = 404, "app.channel.get.existing.app_error", "Unable to find the existing channel.";
    ChannelNameNotFound = 404, "app.channel.get_by_name.missing.app_error", "Channel does not exist.";
    ChannelNameInvalid = 400, "model.channel.is_valid.name.app_error", "Channel name must be 1-64 lowercase letters, numbers, '-' or '_' (and must not contain '__').";
    ChannelDisplayNameInvalid = 400, "model.channel.is_valid.display_name.app_error", "Display name must be 1-64 characters.";
    ChannelHeaderTooLong = 400, "model.channel.is_valid.header.app_error", "Header must be at most 1024 characters.";
    ChannelPurposeTooLong = 400, "model.channel.is_valid.purpose.app_error", "Purpose must be at most 250 characters.";
    DirectChannelThroughCreate = 400, "api.channel.create_channel.direct_channel.app_error", "Must use createDirectChannel API service for direct message channel creation.";
    ChannelNameTaken = 400, "store.sql_channel.save_channel.exists.app_error", "A channel with that name already exists on the same team.";
    ChannelNameTakenOnUpdate = 400, "store.sql_channel.update.exists.app_error", "A channel with that name already exists on the same team.";
    DirectChannelNeedsTwoUsers = 400, "api.channel.create_direct_channel.invalid_user.app_error", "Direct channels need exactly two valid user ids.";
    DirectChannelUserMissing = 400, "api.channel.create_direct_channel.invalid_user.app_error", "One of the provided users does not exist.";
    GroupChannelSize = 400, "api.channel.create_group.bad_size.app_error", "Group message channels must contain at least 3 and no more than 8 users.";
    GroupChannelUserMissing = 400, "api.channel.create_group.bad_user.app_error", "One of the provided users does not exist.";
    DirectChannelPatchNotHeader = 400, "api.channel.patch_update_channel.forbidden.app_error", "Direct and group channels can only change their header.";
    DeleteDirectChannel = 400, "api.channel.delete_channel.type.invalid", "Direct and group channels cannot be deleted.";
    DeleteDefaultChannel = 400, "api.channel.delete_channel.cannot.app_error", "Unable to delete the default channel town-square.";
    ChannelAlreadyDeleted = 400, "api.channel.delete_channel.deleted.app_error", "The channel has been archived or deleted.";
    AddUserToDirectChannel = 400, "api.channel.add_user_to_channel.type.app_error", "Can not add user to this channel type.";
    AddUserToArchivedChannel = 400, "api.channel.add_user.to.channel.failed.deleted.app_error", "Failed to add user to channel because the channel has been archived.";
    AddNonTeamMemberToChannel = 400, "api.channel.add_user.to.channel.failed.app_error", "Failed to add user to channel: the user is not a member of the team.";
    RemoveUserFromDirectChannel = 400, "api.channel.remove_user_from_channel.type.app_error", "Can not remove user from this channel type.";
    RemoveUserFromDefaultChannel = 400, "api.channel.remove.default.app_error", "Unable to remove user from the default channel town-square.";
    /// Removing a user who is not a member.
    ChannelMemberMissing = 404, "app.channel.get_member.missing.app_error", "No channel member found for that user ID and channel ID.";

    // ---- posts and reactions ----
    PostNotFound = 404, "app.post.get.app_error", "Unable to find the post.";
    /// The post exists but was deleted.
    PostDeleted = 404, "app.post.get.app_error", "Unable to get the post.";
    PostMessageTooLong = 400, "model.post.is_valid.msg.app_error", "Message is too long: at most {maximum} characters.";
    PostPropsTooLarge = 400, "model.post.is_valid.props.app_error", "Post props are too large.";
    PostFileIdsInvalid = 400, "model.post.is_valid.file_ids.app_error", "Invalid file ids: at most 10 valid ids.";
    PostTypeNotCustom = 400, "api.context.invalid_body_param.app_error", "Invalid post type: only custom_ types may be created by clients.";
    PostEmpty = 400, "api.post.create_post.empty.app_error", "A post needs a message or files.";
    PostToArchivedChannel = 400, "api.post.create_post.can_not_post_to_deleted.error", "Can not post to deleted channel.";
    PostRootInvalid = 400, "api.post.create_post.root_id.app_error", "Invalid RootId parameter.";
    PostFilesRefused = 400, "app.file_info.attach_to_post.app_error", "Unable to attach the files to the post: each must be your own upload to this channel, not attached to another post.";
    /// The task creating the post failed (panicked or was cancelled).
    PostCreateFailed = 500, "app.post.create_post.app_error", "Unable to create the post.";
    EditOthersPost = 403, "api.post.update_post.permissions_details.app_error", "You can only edit your own posts.";
    DeleteOthersPost = 403, "api.post.delete_post.permissions.app_error", "You can only delete your own posts.";
    SaveReactionForOther = 403, "api.reaction.save_reaction.user_id.app_error", "You cannot save a reaction for another user.";
    DeleteReactionForOther = 403, "api.reaction.delete_reaction.user_id.app_error", "You cannot delete a reaction for another user.";
    EmojiNameInvalid = 400, "model.reaction.is_valid.emoji_name.app_error", "Invalid emoji name.";

    // ---- files ----
    FileInfoNotFound = 404, "app.file_info.get.app_error", "Unable to find the file info.";
    FileBackendMisconfigured = 500, "api.file.file_backend.app_error", "The file store is not configured correctly.";
    FileAttachmentsDisabled = 501, "api.file.attachments.disabled.app_error", "File attachments have been disabled on this server.";
    UploadToArchivedChannel = 400, "api.file.upload_file.archived_channel.app_error", "Files cannot be uploaded to an archived channel.";
    UploadUnreadable = 400, "api.file.upload_file.read_request.app_error", "Unable to upload file(s). Error reading or parsing request data.";
    UploadToSeveralChannels = 400, "api.file.upload_file.multiple_channel_ids.app_error", "Unable to upload files: all files of a request go to one channel.";
    UploadWithoutFile = 400, "api.file.upload_file.no_file.app_error", "No file was found in the request.";
    UploadFileWithoutName = 400, "api.file.upload_file.bad_parse.app_error", "Unable to upload file: the file has no name.";
    UploadClientIdCount = 400, "api.file.upload_file.incorrect_number_of_client_ids.app_error", "Unable to upload files: {client_ids} client ids for {files} files.";
    /// `{subject}` is the file's name, or "the file" before it is known.
    FileTooLarge = 413, "api.file.upload_file.too_large_detailed.app_error", "Unable to upload file {subject}. {length} bytes exceeds the maximum allowed {limit} bytes.";
    UploadRequestTooLarge = 413, "api.file.upload_file.too_large_detailed.app_error", "Unable to upload file(s): the request is larger than allowed.";
    UploadRequestOverLimit = 413, "api.file.upload_file.too_large_detailed.app_error", "Unable to upload file(s): the request is {length} bytes, more than the maximum allowed file size of {limit} bytes.";
    FileStoreWriteFailed = 500, "api.file.upload_file.storage.app_error", "Unable to upload file: the file store failed.";
    /// The file info names an object the file store does not have.
    FileObjectMissing = 404, "api.file.file_reader.app_error", "Unable to find the file in the file store.";
    FileStoreReadFailed = 500, "api.file.file_reader.app_error", "Unable to read the file from the file store.";
    NoThumbnail = 400, "api.file.get_file_thumbnail.no_thumbnail.app_error", "File doesn't have a thumbnail image.";
    NoPreview = 400, "api.file.get_file_preview.no_preview.app_error", "File doesn't have a preview image.";

    // ---- statuses and websocket actions ----
    StatusInvalid = 400, "api.status.set_status.invalid", "Status must be one of online, away, dnd, offline.";
    StatusUserIdMismatch = 400, "api.status.user_id.mismatch", "The user_id in the body does not match the URL.";
    WebSocketUnknownAction = 400, "api.web_socket_router.bad_action.app_error", "Unknown websocket action: {action}";
    WebSocketNoAction = 400, "api.web_socket_router.no_action.app_error", "No websocket action.";
    WebSocketBadSeq = 400, "api.web_socket_router.bad_seq.app_error", "Invalid sequence for WebSocket message.";
    WebSocketNotAuthenticated = 401, "api.web_socket_router.not_authenticated.app_error", "Not authenticated. Please send an authentication_challenge first.";

    // ---- system and configuration ----
    ConfigNotChangeable = 403, "api.config.update_config.not_allowed", "This server's configuration cannot be changed at run time.";
    ConfigNotReloadable = 403, "api.config.reload_config.not_allowed", "This server has no config file to reload.";
    /// The message is the config validation's own explanation.
    ConfigInvalid = 400, "model.config.is_valid.app_error", "{reason}";
    ClusterConfigReadOnly = 403, "ent.cluster.save_config.error", "System Console is set to read-only when High Availability is enabled unless ReadOnlyConfig is disabled in the configuration file.";
    ClientConfigNewFormat = 501, "api.config.client.old_format.app_error", "New format for the client configuration is not supported yet. Please specify format=old in the query string.";

    // ---- limits and enforced settings ----
    /// Mattermost answers with plain text and no id; this id follows its format.
    RateLimitExceeded = 429, "api.context.rate_limit_exceeded.app_error", "limit exceeded";
    WebSocketOriginRefused = 403, "api.web_socket.connect.upgrade.app_error", "Failed to upgrade the websocket connection: origin not allowed.";
    SessionIdle = 401, "api.context.invalid_token.error", "Invalid session token, please login again.";
    PostEditTimeLimit = 400, "api.post.update_post.permissions_time_limit.app_error", "Post edit is only allowed for {seconds} seconds. Please ask your System Administrator for details.";
    PostSearchDisabled = 501, "store.sql_post.search.disabled", "Searching has been disabled on this server. Please contact your System Administrator.";
    ChannelsPerTeamLimit = 400, "store.sql_channel.save_channel.limit.app_error", "You've reached the limit of the number of allowed channels.";
    DirectMessageTeamRestricted = 403, "api.channel.create_channel.direct_channel.team_restricted_error", "A direct channel cannot be created between these users because they do not share a team.";
    EmailDomainNotAccepted = 400, "api.user.create_user.accepted_domain.app_error", "The email you provided does not belong to an accepted domain. Please contact your administrator or sign up with a different email.";
    UserPropsTooLarge = 400, "model.user.is_valid.props_limit.app_error", "Invalid props: at most {maximum} characters as JSON.";
    UserNotifyPropsTooLarge = 400, "model.user.is_valid.notify_props_limit.app_error", "Invalid notify_props: at most {maximum} characters as JSON.";
    UserTimezoneTooLarge = 400, "model.user.is_valid.timezone_limit.app_error", "Invalid timezone: at most {maximum} characters as JSON.";

    // ---- posts in archived channels ----
    DeletePostInArchivedChannel = 400, "api.post.delete_post.can_not_delete_post_in_deleted.error", "Can not delete a post in an archived channel.";
    ReactInArchivedChannel = 403, "api.reaction.save.archived_channel.app_error", "You cannot react to a post in an archived channel.";
    UnreactInArchivedChannel = 403, "api.reaction.delete.archived_channel.app_error", "You cannot remove a reaction in an archived channel.";
    PatchPostInArchivedChannel = 400, "api.post.patch_post.can_not_update_post_in_deleted.error", "Can not update a post in an archived channel.";
    UpdatePostInArchivedChannel = 400, "api.post.update_post.can_not_update_post_in_deleted.error", "Can not update a post in an archived channel.";

    // ---- preferences ----
    PreferenceInvalidUserId = 400, "model.preference.is_valid.id.app_error", "Invalid user id.";
    PreferenceInvalidCategory = 400, "model.preference.is_valid.category.app_error", "Invalid category.";
    PreferenceInvalidName = 400, "model.preference.is_valid.name.app_error", "Invalid name.";
    PreferenceValueTooLong = 400, "model.preference.is_valid.value.app_error", "Value is too long.";
    PreferenceInvalidTheme = 400, "model.preference.is_valid.theme.app_error", "Invalid theme.";
    PreferenceInvalidVisibleDmsLimit = 400, "model.preference.is_valid.limit_visible_dms_gms.app_error", "Invalid value for limit_visible_dms_gms.";
    PreferenceCategoryEmpty = 404, "api.preference.preferences_category.get.app_error", "Unable to find preferences for this category.";
    /// Mattermost answers a missing preference with 400, not 404.
    PreferenceNotFound = 400, "app.preference.get.app_error", "Unable to get the preference.";
    PreferenceSetOtherUser = 403, "api.preference.update_preferences.set.app_error", "Unable to set user preferences.";
    PreferenceDeleteOtherUser = 403, "api.preference.delete_preferences.delete.app_error", "Unable to delete user preferences.";

    // ---- sidebar categories, channel and team settings (issue 13) ----
    /// Mattermost's SetInvalidParam: a field of the JSON body is missing or wrong.
    InvalidBodyParam = 400, "api.context.invalid_body_param.app_error", "Invalid or missing {name} in request body.";
    SidebarCategoryNotFound = 404, "app.channel.sidebar_categories.app_error", "Unable to find the sidebar category.";
    SidebarCategoryOrderInvalid = 400, "app.channel.sidebar_categories.app_error", "The new order must name each of the user's categories of the team exactly once.";
    SidebarCategoryNotCustom = 400, "app.channel.sidebar_categories.app_error", "Only custom sidebar categories can be deleted.";
    ChannelNotArchived = 400, "api.channel.restore_channel.restored.app_error", "Unable to unarchive channel. The channel is not archived.";
    DefaultChannelToPrivate = 400, "api.channel.update_channel_privacy.default_channel_error", "The default channel cannot be converted into a private channel.";
    ChannelMemberSchemeRole = 400, "api.channel.update_channel_member_roles.scheme_role.app_error", "The role {role} cannot be given to a channel member: only channel_user and channel_admin (and channel_guest) apply.";
    ChannelMemberGuestAndUser = 400, "api.channel.update_channel_member_roles.guest_and_user.app_error", "A channel member cannot be both a guest and a user.";
    ChannelNotifyLevelInvalid = 400, "model.channel_member.is_valid.notify_level.app_error", "Invalid notify level: default, all, mention or none.";
    ChannelUnreadLevelInvalid = 400, "model.channel_member.is_valid.unread_level.app_error", "Invalid mark unread level: all or mention.";
    ChannelPushLevelInvalid = 400, "model.channel_member.is_valid.push_level.app_error", "Invalid push notification level: default, all, mention or none.";
    ChannelEmailValueInvalid = 400, "model.channel_member.is_valid.email_value.app_error", "Invalid email notification value: default, true or false.";
    ChannelIgnoreMentionsInvalid = 400, "model.channel_member.is_valid.ignore_channel_mentions_value.app_error", "Invalid ignore channel mentions status: default, off or on.";
    ChannelNotifyPropsTooLarge = 400, "model.channel_member.is_valid.notify_props.app_error", "Notify props are too long.";
    TeamInviteNotFound = 404, "app.team.get_by_invite_id.finding.app_error", "Unable to find a team with that invite id.";
    // ---- issue 13 (misc): team member roles, invite info ----
    TeamMemberSchemeRole = 400, "api.channel.update_team_member_roles.scheme_role.app_error", "The role {role} cannot be given to a team member: only team_user and team_admin (and team_guest) apply.";
    TeamMemberGuestAndUser = 400, "api.team.update_team_member_roles.guest_and_user.app_error", "A team member cannot be both a guest and a user.";
    TeamMemberChangingGuestRole = 400, "api.channel.update_team_member_roles.changing_guest_role.app_error", "A team member cannot be made a guest, nor a guest a member, by changing roles.";
    TeamInviteNotOpen = 403, "api.team.get_invite_info.not_open_team", "The invite leads to a team that is not open.";

    // ---- roles ----
    RoleNotFound = 404, "app.role.get.app_error", "Unable to get role.";
    RoleNameNotFound = 404, "app.role.get_by_name.app_error", "Unable to get role.";

    // ---- jobs ----
    JobNotFound = 404, "app.job.get.app_error", "Unable to find the job.";
    JobTypeIncorrect = 400, "api.job.unable_to_create_job.incorrect_job_type", "The job type of the job you are trying to create is invalid.";
    JobStatusInvalid = 400, "api.job.status.invalid", "Invalid job status.";
    JobTypeNotRetrievable = 400, "api.job.retrieve.nopermissions", "The job type of the job you are trying to retrieve is invalid.";
    JobNotCancelable = 400, "jobs.request_cancellation.status.error", "Could not request cancellation for job that is not in a cancelable state.";

    // ---- people, posts, operators (issue 13) ----
    /// Mattermost answers 500 to an unparsable profile image upload; bad input is a 4xx here.
    ProfileImageUnreadable = 400, "api.user.upload_profile_user.parse.app_error", "Unable to parse the multipart form of the profile image.";
    ProfileImageMissing = 400, "api.user.upload_profile_user.no_file.app_error", "No file under 'image' in request.";
    ProfileImageTooLarge = 413, "api.user.upload_profile_user.too_large.app_error", "Unable to upload profile image: the file is larger than {maximum} bytes.";
    ProfileImageTooManyPixels = 413, "api.user.upload_profile_user.too_large.app_error", "Unable to upload profile image: the image has more than {maximum} pixels.";
    ProfileImageUndecodable = 400, "api.user.upload_profile_user.decode_config.app_error", "Unable to save profile image: the file is not a supported image.";
    ProfileImageStoreFailed = 500, "api.user.upload_profile_user.upload_profile.app_error", "Unable to store the profile image.";
    TeamIconUnreadable = 400, "api.team.set_team_icon.parse.app_error", "Could not parse the multipart form of the team icon.";
    TeamIconMissing = 400, "api.team.set_team_icon.no_file.app_error", "No file under 'image' in request.";
    TeamIconTooLarge = 400, "api.team.set_team_icon.too_large.app_error", "Unable to upload the team icon: the file is larger than {maximum} bytes.";
    TeamIconTooManyPixels = 400, "api.team.set_team_icon.check_image_limits.app_error", "Unable to upload the team icon: the image has more than {maximum} pixels.";
    TeamIconUndecodable = 400, "api.team.set_team_icon.decode.app_error", "Unable to decode the team icon: the file is not a supported image.";
    TeamIconStoreFailed = 500, "api.team.set_team_icon.write_file.app_error", "Could not save the team icon.";
    TeamIconNotFound = 404, "api.team.get_team_icon.read_file.app_error", "Unable to read the team icon file.";
    DeactivationNotAllowed = 403, "api.user.update_active.permissions.app_error", "You do not have the appropriate permissions.";
    SelfDeactivationDisabled = 401, "api.user.update_active.not_enable.app_error", "You cannot deactivate yourself because this feature is not enabled. Please contact your System Administrator.";
    CustomStatusDisabled = 501, "api.custom_status.disabled", "Custom status feature has been disabled. Please contact your system administrator for details.";
    CustomStatusEmpty = 400, "api.custom_status.set_custom_statuses.update.app_error", "Failed to update the custom status: it needs an emoji or a text.";
    /// Mattermost answers 500; a request without the team is bad input.
    AutocompleteWithoutTeam = 400, "api.user.autocomplete_users.missing_team_id.app_error", "Team id parameter is required to autocomplete by channel.";
    ServerBusy = 503, "api.context.server_busy.app_error", "Server is busy, non-critical services are temporarily unavailable.";

    // ---- custom emoji and collapsed threads (issue 13) ----
    /// Mattermost's handlers answer 501 for create, list, get and image; its app layer 403 for
    /// the lookups by name and the searches.
    EmojiDisabled = 501, "api.emoji.disabled.app_error", "Custom emoji have been disabled by the system admin.";
    EmojiLookupDisabled = 403, "api.emoji.disabled.app_error", "Custom emoji have been disabled by the system admin; they cannot be looked up.";
    EmojiTooLarge = 413, "api.emoji.create.too_large.app_error", "Unable to create emoji. Image must be less than {maximum} bytes in size.";
    EmojiFormUnreadable = 400, "api.emoji.create.parse.app_error", "Unable to create emoji. Could not understand request.";
    EmojiDuplicateName = 400, "api.emoji.create.duplicate.app_error", "Unable to create emoji. Another emoji with the same name already exists.";
    EmojiForOtherUser = 403, "api.emoji.create.other_user.app_error", "Invalid user id: an emoji is created for oneself.";
    EmojiNameRefused = 400, "model.emoji.name.app_error", "Name must be 1 to 64 lowercase alphanumeric characters.";
    EmojiSystemName = 400, "model.emoji.system_emoji_name.app_error", "Name conflicts with an existing system emoji name.";
    EmojiNotAnImage = 400, "api.emoji.upload.image.app_error", "Unable to create emoji. File must be a PNG, JPEG, or GIF.";
    EmojiImageTooLarge = 400, "api.emoji.upload.large_image.too_large.app_error", "Unable to create emoji. Image must be at most {max_width} by {max_height} pixels.";
    EmojiImageUndecodable = 400, "api.emoji.upload.large_image.decode_error", "Unable to create emoji. An error occurred when trying to decode the image.";
    EmojiImageUnencodable = 400, "api.emoji.upload.large_image.encode_error", "Unable to create emoji. An error occurred when trying to encode the image.";
    /// Mattermost answers with its file store write error.
    EmojiImageStoreFailed = 500, "api.file.write_file.app_error", "Unable to store the emoji image.";
    EmojiNotFound = 404, "app.emoji.get.no_result", "Unable to find the emoji.";
    EmojiNameNotFound = 404, "app.emoji.get_by_name.no_result", "Unable to find the emoji.";
    EmojiImageMissing = 404, "api.emoji.get_image.read.app_error", "Unable to read image file for emoji.";
    EmojiNamesTooMany = 400, "api.emoji.get_multiple_by_name_too_many.request_error", "Unable to get emojis by name. Only up to {maximum} emojis can be requested at once.";
    ReactionEmojiNotFound = 404, "app.emoji.get_by_name.no_result", "Unable to react: no system or custom emoji has that name.";
    ThreadMembershipNotFound = 404, "app.user.get_thread_membership_for_user.not_found", "Unable to get thread membership for user.";
    ThreadNotFound = 404, "app.user.get_threads_for_user.not_found", "User thread does not exist or is not in the team.";
    ThreadsBadParams = 400, "api.getThreadsForUser.bad_params", "Before and after parameters to getThreadsForUser are mutually exclusive.";
    ThreadsBadOnlyParams = 400, "api.getThreadsForUser.bad_only_params", "ThreadsOnly and TotalsOnly parameters to getThreadsForUser are mutually exclusive.";
    // ---- integrations: bots, incoming and outgoing webhooks (issue 16) ----
    BotCreationDisabled = 403, "api.bot.create_disabled", "Bot creation has been disabled.";
    BotNotFound = 404, "store.sql_bot.get.missing.app_error", "Bot does not exist.";
    BotUsernameInvalid = 400, "model.bot.is_valid.username.app_error", "Invalid username.";
    BotDescriptionInvalid = 400, "model.bot.is_valid.description.app_error", "Invalid description: at most 1024 characters.";
    BotDisplayNameInvalid = 400, "model.user.is_valid.first_name.app_error", "Invalid display name: at most 64 characters.";
    BotLoginForbidden = 401, "api.user.login.bot_login_forbidden.app_error", "Bot login is forbidden.";
    /// POST /bots/{id}/convert_to_user needs a password for the person's account.
    BotConversionNeedsPassword = 400, "api.user.convert_bot_to_user.password.app_error", "A password is required to convert a bot to a user.";
    BotOwnerNotFound = 400, "model.bot.is_valid.creator_id.app_error", "Invalid creator id: no such user.";
    IncomingWebhooksDisabled = 501, "api.incoming_webhook.disabled.app_error", "Incoming webhooks have been disabled by the system admin.";
    IncomingWebhookPostsDisabled = 501, "web.incoming_webhook.disabled.app_error", "Incoming webhooks have been disabled by the system admin.";
    IncomingWebhookNotFound = 404, "app.webhooks.get_incoming.app_error", "Unable to get the webhook.";
    IncomingWebhookInvalid = 400, "web.incoming_webhook.invalid.app_error", "Invalid webhook.";
    IncomingWebhookNoText = 400, "web.incoming_webhook.text.app_error", "No text specified.";
    IncomingWebhookUnparsable = 400, "web.incoming_webhook.parse.app_error", "Unable to parse incoming data: {reason}";
    IncomingWebhookChannelNotFound = 404, "web.incoming_webhook.channel.app_error", "Couldn't find the channel.";
    IncomingWebhookChannelLocked = 403, "web.incoming_webhook.channel_locked.app_error", "This webhook is not permitted to post to the requested channel.";
    IncomingWebhookUserNotFound = 400, "web.incoming_webhook.user.app_error", "Couldn't find the user.";
    IncomingWebhookCreatorGone = 403, "web.incoming_webhook.user.app_error", "The webhook's creator no longer exists or is deactivated.";
    IncomingWebhookNoChannelPermission = 403, "web.incoming_webhook.permissions.app_error", "Inappropriate channel permissions.";
    IncomingWebhookUsernameInvalid = 400, "api.incoming_webhook.invalid_username.app_error", "Invalid username.";
    IncomingWebhookDisplayNameInvalid = 400, "model.incoming_hook.display_name.app_error", "Invalid display name: at most 64 characters.";
    IncomingWebhookDescriptionInvalid = 400, "model.incoming_hook.description.app_error", "Invalid description: at most 500 characters.";
    IncomingWebhookIconUrlInvalid = 400, "model.incoming_hook.icon_url.app_error", "Invalid icon URL: at most 1024 characters.";
    OutgoingWebhooksDisabled = 501, "api.outgoing_webhook.disabled.app_error", "Outgoing webhooks have been disabled by the system admin.";
    OutgoingWebhookNotFound = 404, "app.webhooks.get_outgoing.app_error", "Unable to get the webhook.";
    OutgoingWebhookChannelNotOpen = 403, "api.webhook.create_outgoing.not_open.app_error", "Outgoing webhooks can only be created for public channels.";
    OutgoingWebhookChannelOfOtherTeam = 403, "api.webhook.create_outgoing.permissions.app_error", "Invalid permissions to create outgoing webhook: the channel is not in the hook's team.";
    OutgoingWebhookNoTriggers = 400, "api.webhook.create_outgoing.triggers.app_error", "Either trigger_words or channel_id must be set.";
    /// Mattermost answers 500 on create, 400 on update; bad input is a 4xx here.
    OutgoingWebhookIntersects = 400, "api.webhook.create_outgoing.intersect.app_error", "Outgoing webhooks from the same channel cannot have the same trigger words/callback URLs.";
    OutgoingWebhookCallbacksInvalid = 400, "model.outgoing_hook.is_valid.callback.app_error", "Invalid callback urls: {reason}";
    OutgoingWebhookContentTypeInvalid = 400, "model.outgoing_hook.is_valid.content_type.app_error", "Invalid content_type.";
    OutgoingWebhookTriggerWordsInvalid = 400, "model.outgoing_hook.is_valid.trigger_words.app_error", "Invalid trigger words.";
    OutgoingWebhookTriggerWhenInvalid = 400, "model.outgoing_hook.is_valid.trigger_when.app_error", "Invalid trigger when.";
    OutgoingWebhookDisplayNameInvalid = 400, "model.outgoing_hook.is_valid.display_name.app_error", "Invalid display name.";
    OutgoingWebhookDescriptionInvalid = 400, "model.outgoing_hook.is_valid.description.app_error", "Invalid description.";
    CommandsDisabled = 501, "api.command.disabled.app_error", "Commands have been disabled by the system admin.";
    CommandNotFound = 404, "store.sql_command.get.missing.app_error", "Command does not exist.";
    CommandTriggerNotFound = 404, "api.command.execute_command.not_found.app_error", "Command with a trigger of '{trigger}' not found.";
    CommandFormat = 400, "api.command.execute_command.format.app_error", "Command trigger is missing the leading slash character.";
    CommandFailed = 500, "api.command.execute_command.failed.app_error", "Command with a trigger of '{trigger}' failed.";
    CommandFailedResponse = 500, "api.command.execute_command.failed_resp.app_error", "Command with a trigger of '{trigger}' returned response {status}.";
    CommandFailedEmpty = 500, "api.command.execute_command.failed_empty.app_error", "Command with a trigger of '{trigger}' returned an empty response.";
    CommandDuplicateTrigger = 400, "api.command.duplicate_trigger.app_error", "This trigger word is already in use. Please choose another word.";
    CommandTriggerInvalid = 400, "model.command.is_valid.trigger.app_error", "Invalid trigger: 1 to 128 characters, no slash or space at the start.";
    CommandUrlInvalid = 400, "model.command.is_valid.url.app_error", "Invalid URL: {reason}";
    CommandMethodInvalid = 400, "model.command.is_valid.method.app_error", "Invalid method: P or G.";
    CommandTextInvalid = 400, "model.command.is_valid.display_name.app_error", "Invalid display name, description, username, icon URL or autocomplete text: too long.";
    CommandNoPermission = 403, "api.command.execute_command.no_permission", "You do not have the appropriate permissions to run this command here.";
}

/// Every entry of the catalogue, in the order of the table (grouped by resource).
pub fn catalogue() -> impl Iterator<Item = ErrorId> {
    ErrorId::ALL.iter().copied()
}

impl ErrorId {
    /// The answer with a `detailed_error` (for logs and support, not for users).
    pub fn with_detail(self, detail: impl Into<String>) -> AppError {
        AppError::from(self).with_detail(detail)
    }

    /// The answer with the message's `{name}` placeholder filled in.
    pub fn with_param(self, name: &str, value: impl std::fmt::Display) -> AppError {
        AppError::from(self).with_param(name, value)
    }
}

/// A subsystem's typed error that knows which catalogue entry it answers with. Implementing it
/// gives `From<E> for AppError`, so `?` converts at the call site while the subsystem itself
/// never builds an `AppError`.
pub trait Catalogued {
    /// The entry, and the `detailed_error` to go with it (empty when there is none).
    fn into_catalogue_entry(self) -> (ErrorId, String);
}

impl Catalogued for ErrorId {
    fn into_catalogue_entry(self) -> (ErrorId, String) {
        (self, String::new())
    }
}

/// Coherent because `AppError` itself is not `Catalogued` (anyhow's trick for its blanket
/// `From`).
impl<E: Catalogued> From<E> for AppError {
    fn from(error: E) -> Self {
        let (entry, detail) = error.into_catalogue_entry();
        AppError::new(entry.status(), entry.id(), entry.message()).with_detail(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Ids that answer with more than one status on purpose: a missing object and a failing
    /// read of the file store share Mattermost's id.
    /// Mattermost answers every sidebar category failure with one id: 404 for a missing
    /// category, 400 for a bad order or deleting a default category.
    const IDS_WITH_SEVERAL_STATUSES: &[&str] = &[
        "api.file.file_reader.app_error",
        "app.channel.sidebar_categories.app_error",
        "api.emoji.disabled.app_error",
        // Mattermost: 400 for a DM target (`@user`) that does not exist, 403 when the hook's
        // creator is gone.
        "web.incoming_webhook.user.app_error",
    ];

    #[test]
    fn every_answer_is_listed_once() {
        let mut seen = BTreeMap::new();
        for entry in catalogue() {
            let answer = (entry.id(), entry.status(), entry.message());
            if let Some(earlier) = seen.insert(answer, entry) {
                panic!("{earlier:?} and {entry:?} are the same answer: keep one entry");
            }
        }
    }

    #[test]
    fn an_id_keeps_one_status() {
        let mut status_of_id: BTreeMap<&str, (u16, ErrorId)> = BTreeMap::new();
        for entry in catalogue() {
            if IDS_WITH_SEVERAL_STATUSES.contains(&entry.id()) {
                continue;
            }
            if let Some((status, earlier)) =
                status_of_id.insert(entry.id(), (entry.status(), entry))
            {
                assert_eq!(
                    status,
                    entry.status(),
                    "{earlier:?} and {entry:?} share {} with different statuses",
                    entry.id()
                );
            }
        }
    }

    #[test]
    fn every_status_is_an_error_status() {
        for entry in catalogue() {
            assert!(
                (400..=599).contains(&entry.status()),
                "{entry:?} answers {}",
                entry.status()
            );
        }
    }

    /// Mattermost's own ids that keep a handler's camelCase name.
    const CAMEL_CASE_IDS: &[&str] = &[
        "api.getThreadsForUser.bad_params",
        "api.getThreadsForUser.bad_only_params",
    ];

    #[test]
    fn ids_look_like_mattermost_ids() {
        for entry in catalogue() {
            let id = entry.id();
            if CAMEL_CASE_IDS.contains(&id) {
                continue;
            }
            assert!(
                id.split('.').count() >= 3
                    && id.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '.'
                        || c == '_'),
                "{entry:?} has id {id:?}"
            );
        }
    }

    #[test]
    fn params_fill_the_message() {
        let error = ErrorId::InvalidParam.with_param("name", "channel_id");
        assert_eq!(error.id, "api.context.invalid_param.app_error");
        assert_eq!(error.status_code, 400);
        assert_eq!(
            error.message,
            "Invalid or missing channel_id parameter in request URL or body."
        );
    }

    /// `cargo test -p chorus-model -- --nocapture catalogue` prints the table.
    #[test]
    fn print_catalogue() {
        for entry in catalogue() {
            println!(
                "{:<45} {} {:<70} {}",
                format!("{entry:?}"),
                entry.status(),
                entry.id(),
                entry.message()
            );
        }
    }
}
